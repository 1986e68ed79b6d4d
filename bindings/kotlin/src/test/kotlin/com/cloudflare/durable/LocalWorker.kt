package com.cloudflare.durable

import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.util.concurrent.TimeUnit
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withTimeout
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.JsonArray
import org.junit.jupiter.api.extension.BeforeAllCallback
import org.junit.jupiter.api.extension.ExtensionContext
import org.junit.jupiter.api.extension.ParameterContext
import org.junit.jupiter.api.extension.ParameterResolver

/** The repository root (set by surefire as `cfd.repo`, else found from the working directory). */
val repoRoot: Path = (System.getProperty("cfd.repo")?.let { Paths.get(it) } ?: Paths.get("../..")).toAbsolutePath().normalize()

/** A string unique to this test run, for object names. */
val runId: String = java.lang.Long.toString(System.currentTimeMillis(), 36) + ProcessHandle.current().pid()

/**
 * The reference worker on a local workerd, driven through the harness CLI
 * (`tests/harness/worker.py`) with [ProcessBuilder].
 */
class LocalWorker(private val token: String? = null) : AutoCloseable {
    private val stateDir: Path = Files.createTempDirectory("cfd-kotlin-worker-")

    /** The worker's log (stdout and stderr of workerd), written by the harness. */
    val logFile: Path get() = stateDir.resolve("worker.log")

    /** The harness's state directory (worker.json, worker.log, storage). */
    val directory: Path get() = stateDir

    /** The worker's base URL, once started. */
    lateinit var url: String
        private set

    private fun harness(vararg args: String): String {
        val command = mutableListOf("python3", repoRoot.resolve("tests/harness/worker.py").toString())
        command += args
        command += listOf("--state-dir", stateDir.toString())
        val process = ProcessBuilder(command).redirectErrorStream(true).start()
        // Bounded: a first start may run `npm ci` in worker/.
        check(process.waitFor(300, TimeUnit.SECONDS)) { "harness ${args.first()} did not finish in 300 s" }
        val output = process.inputStream.bufferedReader().readText()
        check(process.exitValue() == 0) { "harness ${args.joinToString(" ")} failed:\n$output" }
        return output.trim().lines().last()
    }

    /** Starts the worker (fresh storage, free port). */
    fun start(): LocalWorker {
        url = if (token != null) harness("start", "--token", token) else harness("start")
        return this
    }

    /** SIGKILLs and restarts the worker on the same port and storage. */
    fun restart() {
        harness("restart")
    }

    /** Stops the worker and removes its state directory. */
    override fun close() {
        runCatching { harness("stop") }
        stateDir.toFile().deleteRecursively()
    }

    /** A client for this worker, with retries shortened for tests. */
    fun client(configure: (ClientOptions) -> ClientOptions = { it }): DurableClient =
        DurableClient(configure(options()))

    /** Options for this worker. */
    fun options(): ClientOptions = ClientOptions(
        workerUrl = url,
        apiToken = token,
        retryDelayMs = 50u,
        websocketReconnectDelayMs = 100u,
        websocketMaxReconnectDelayMs = 1000u,
    )
}

/**
 * JUnit extension: one worker shared by every test class that uses it, started
 * on first use and stopped when the test run ends. Inject it as a parameter.
 */
class SharedWorker : BeforeAllCallback, ParameterResolver {
    private class Holder(val worker: LocalWorker) : ExtensionContext.Store.CloseableResource {
        override fun close() = worker.close()
    }

    private fun worker(context: ExtensionContext): LocalWorker =
        context.root.getStore(ExtensionContext.Namespace.GLOBAL)
            .getOrComputeIfAbsent("cfd-shared-worker", { Holder(LocalWorker().start()) }, Holder::class.java)
            .worker

    override fun beforeAll(context: ExtensionContext) {
        worker(context)
    }

    override fun supportsParameter(parameterContext: ParameterContext, extensionContext: ExtensionContext): Boolean =
        parameterContext.parameter.type == LocalWorker::class.java

    override fun resolveParameter(parameterContext: ParameterContext, extensionContext: ExtensionContext): Any =
        worker(extensionContext)
}

/** JSON equality where numbers compare by value (1 == 1.0), as JSON means. */
fun jsonEquals(a: JsonElement, b: JsonElement): Boolean = when {
    a is JsonObject && b is JsonObject -> a.keys == b.keys && a.all { (k, v) -> jsonEquals(v, b.getValue(k)) }
    a is JsonArray && b is JsonArray -> a.size == b.size && a.indices.all { jsonEquals(a[it], b[it]) }
    a is JsonNull || b is JsonNull -> a is JsonNull && b is JsonNull
    a is JsonPrimitive && b is JsonPrimitive && !a.isString && !b.isString ->
        a.content == b.content || (a.content.toBigDecimalOrNull()?.let { x ->
            b.content.toBigDecimalOrNull()?.let { y -> x.compareTo(y) == 0 }
        } ?: false)
    else -> a == b
}

/** Whether [actual] is an object holding at least [expected]'s members. */
fun jsonSubset(expected: JsonObject, actual: JsonElement): Boolean =
    actual is JsonObject && expected.all { (k, v) -> actual[k]?.let { jsonEquals(v, it) } ?: false }

/** The first element matching [predicate], within [limit]. */
suspend fun <T> Flow<T>.firstWithin(limit: Duration = 10.seconds, predicate: (T) -> Boolean): T =
    withTimeout(limit) { first(predicate) }

/** Polls [condition] until true, at most [limit]; fails otherwise. */
suspend fun eventually(limit: Duration = 10.seconds, what: String, condition: suspend () -> Boolean) {
    try {
        withTimeout(limit) { while (!condition()) delay(20) }
    } catch (e: kotlinx.coroutines.TimeoutCancellationException) {
        throw AssertionError("not within $limit: $what", e)
    }
}

/**
 * One of the loopback helper servers of `tests/harness` (`fault_proxy.py`, `hostile_server.py`,
 * `cloudflare_api_mock.py`), started with its `start` command and stopped on [close].
 */
class HarnessServer(private val script: String, vararg args: String) : AutoCloseable {
    private val stateDir: Path = Files.createTempDirectory("cfd-kotlin-${script.substringBefore('.')}-")

    /** What `start` printed: the server's URL. */
    val url: String = run("start", *args)

    /** Runs one harness command and returns the last line it printed. */
    fun run(vararg command: String): String {
        val argv = mutableListOf("python3", repoRoot.resolve("tests/harness/$script").toString())
        argv += command
        argv += listOf("--state-dir", stateDir.toString())
        val process = ProcessBuilder(argv).redirectErrorStream(true).start()
        check(process.waitFor(60, TimeUnit.SECONDS)) { "$script ${command.first()} did not finish in 60 s" }
        val output = process.inputStream.bufferedReader().readText()
        check(process.exitValue() == 0) { "$script ${command.joinToString(" ")} failed:\n$output" }
        return output.trim().lines().last()
    }

    override fun close() {
        runCatching { run("stop") }
        stateDir.toFile().deleteRecursively()
    }
}
