package com.cloudflare.durable

import java.util.concurrent.TimeUnit
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.JsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.extension.ExtendWith

/**
 * `CLOUDFLARE_DURABLE_RUNTIME_THREADS`: the native runtime's worker count. The runtime is
 * process-wide and reads the variable once, so each case runs [RuntimeThreadsProbe] in a JVM of
 * its own, started with the variable set.
 */
@ExtendWith(SharedWorker::class)
class RuntimeThreadsTest {
    private fun probe(worker: LocalWorker, value: String?): String {
        val java = ProcessHandle.current().info().command().orElse("java")
        val command = listOf(java, "-cp", System.getProperty("java.class.path"), RuntimeThreadsProbe::class.java.name, worker.url)
        val builder = ProcessBuilder(command).redirectErrorStream(true)
        builder.environment().remove("CLOUDFLARE_DURABLE_RUNTIME_THREADS")
        if (value != null) builder.environment()["CLOUDFLARE_DURABLE_RUNTIME_THREADS"] = value
        val process = builder.start()
        val output = process.inputStream.bufferedReader().readText()
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "probe did not exit")
        assertEquals(0, process.exitValue(), output)
        return output.trim().lines().last()
    }

    @Test
    fun `one worker by default, else the variable's count`(worker: LocalWorker) {
        assertEquals("workers 1", probe(worker, null))
        assertEquals("workers 3", probe(worker, "3"))
    }

    @Test
    fun `a bad value is refused when the client is built`(worker: LocalWorker) {
        val out = probe(worker, "zero")
        assertTrue(out.startsWith("InvalidInput config "), out)
        assertTrue(out.contains("CLOUDFLARE_DURABLE_RUNTIME_THREADS must be a whole number from 1 to 256"), out)
    }
}

/**
 * Run by [RuntimeThreadsTest] in its own JVM: makes one call to the worker at `args[0]` and prints
 * how many threads are the runtime's workers (named `cloudflare-durable`, which Linux cuts to
 * 15 characters), or the refusal's class, field and reason.
 */
object RuntimeThreadsProbe {
    @JvmStatic
    fun main(args: Array<String>) = runBlocking {
        try {
            DurableClient(ClientOptions(workerUrl = args[0])).use { client ->
                assertEquals(JsonPrimitive(1), client.callMethod("kt-runtime-threads-$runId", "echo", JsonPrimitive(1)))
                val workers = java.io.File("/proc/self/task").listFiles()!!.count {
                    java.io.File(it, "comm").readText().trim() == "cloudflare-durable".take(15)
                }
                println("workers $workers")
            }
        } catch (e: DurableObjectException.InvalidInput) {
            println("InvalidInput ${e.field} ${e.reason}")
        }
    }
}
