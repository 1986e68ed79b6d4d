// Kotlin contenders: "uniffi" (DurableClient over the Rust core) and "jdk"
// (java.net.http.HttpClient and its WebSocket). Usage and output: bench/README.md.

import com.cloudflare.durable.ClientOptions
import com.cloudflare.durable.DurableClient
import java.lang.management.ManagementFactory
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.net.http.WebSocket
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionStage
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicLong
import kotlin.random.Random
import kotlin.system.exitProcess
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.future.await
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.sync.Semaphore
import kotlinx.coroutines.sync.withPermit
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.flow.first
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.put

val URL: String = (System.getenv("BENCH_URL") ?: "http://127.0.0.1:8787").trimEnd('/')
val WS_URL = "ws" + URL.removePrefix("http")
val SECONDS = (System.getenv("BENCH_SECONDS") ?: "2").toDouble()
val WARMUP = (System.getenv("BENCH_WARMUP") ?: "0.5").toDouble()
val OBJECTS = (System.getenv("BENCH_OBJECTS") ?: "16").toInt()
val PREFIX = System.getenv("BENCH_PREFIX") ?: "bench"
val OPEN_CONCURRENCY = (System.getenv("BENCH_OPEN_CONCURRENCY") ?: "256").toInt()

/** libc's `getrusage`, through JNA (the binding's dependency, so on the classpath anyway). */
private interface LibC : com.sun.jna.Library {
    fun getrusage(who: Int, usage: com.sun.jna.Pointer): Int
}

private val libc: LibC = com.sun.jna.Native.load("c", LibC::class.java)

/** A `struct rusage` (144 bytes on x86-64 Linux: two timevals, then 14 longs). */
private val usage = com.sun.jna.Memory(144)

/**
 * CPU time of the whole JVM process, seconds: user + system from getrusage(RUSAGE_SELF), as the
 * Rust and Python contenders read it. It counts every thread, threads that ended included: the JDK's
 * HttpClient starts and ends worker threads all the time, whose CPU a sum over the live threads'
 * /proc/self/task/N/schedstat (used before) missed. Microsecond resolution, microseconds per read
 * (that sum took 1-6 ms; the MXBean's processCpuTime has 10 ms ticks here).
 */
fun cpu(): Double = synchronized(usage) {
    check(libc.getrusage(0 /* RUSAGE_SELF */, usage) == 0) { "getrusage failed" }
    val seconds = usage.getLong(0) + usage.getLong(16)
    val micros = usage.getLong(8) + usage.getLong(24)
    seconds + micros / 1e6
}

fun rss(): Long = java.io.File("/proc/self/status").readLines()
    .first { it.startsWith("VmRSS:") }.split(Regex("\\s+"))[1].toLong() * 1024

fun now(): Long = System.nanoTime()

fun hex(bits: Int): String = buildString { repeat(bits / 64) { append("%016x".format(Random.nextLong())) } }

fun params(method: String, n: Long): JsonElement =
    if (method == "increment") buildJsonObject { put("increment", 1) }
    else buildJsonObject { put("text", "hello"); put("n", n) }

fun obj(j: Int, n: Long) = "$PREFIX-h-${((j + n) % OBJECTS)}"

fun pct(sorted: List<Long>, p: Double): Double =
    if (sorted.isEmpty()) 0.0 else sorted[Math.round((sorted.size - 1) * p).toInt()].toDouble()

fun emit(map: Map<String, Any>) {
    println(map.entries.joinToString(",", "{", "}") { (k, v) -> "\"$k\":${if (v is String) "\"$v\"" else v}" })
    System.out.flush()
}

fun report(ops: Int, errors: Long, wallS: Double, cpuS: Double, latNs: List<Long>, extra: Map<String, Any> = emptyMap()) {
    val sorted = latNs.sorted()
    emit(mapOf(
        "ops" to ops, "errors" to errors, "wall_s" to wallS, "cpu_s" to cpuS,
        "ops_per_s" to if (wallS > 0) ops / wallS else 0.0,
        "cpu_us_per_op" to if (ops > 0) cpuS * 1e6 / ops else 0.0,
        "p50_us" to pct(sorted, 0.5) / 1000, "p99_us" to pct(sorted, 0.99) / 1000,
    ) + extra)
}

/** The note fields bench.py reads from a JVM result: seconds of warm-up, and whether the JIT had settled. */
fun warmupNote(warmupS: Double, jitSettled: Boolean): Map<String, Any> =
    mapOf("warmup_s" to warmupS, "jit_settled" to jitSettled)

/**
 * When a loop case's measured window may open: after BENCH_WARMUP seconds, once [QUIET_CHECKS]
 * one-second checks in a row found the JIT compilers spending under [QUIET_MS] ms each, or at
 * [MAX_EXTRA_S] seconds more at the latest. [warmupS] says which it was. One quiet second was
 * not enough: at `http echo 1` (about 900 calls/s) C2 keeps compiling for 10-20 s with pauses,
 * and in four of seven runs the window opened after one such pause (6-8 s) and cost 342-414 µs
 * per call, against 202-235 µs when it opened after 11-12 s; in three of those four, C2 took
 * about 190-380 ms of CPU inside the 2 s window.
 */
class JitSettle {
    private val jit = ManagementFactory.getCompilationMXBean()
    private val begin = now()
    private var checkAt = begin + (WARMUP * 1e9).toLong()
    private var lastMs = -1L
    private var quietInARow = 0
    /** Seconds from start to the window's opening (set once [settled] has returned true). */
    var warmupS = 0.0
    /** Whether the JIT had gone quiet after the warm-up at this point [t]. */
    var jitQuiet = false

    fun settled(t: Long): Boolean {
        if (t < checkAt) return false
        val ms = jit.totalCompilationTime
        quietInARow = if (lastMs >= 0 && ms - lastMs < QUIET_MS) quietInARow + 1 else 0
        lastMs = ms
        checkAt = t + 1_000_000_000L
        val quiet = quietInARow >= QUIET_CHECKS
        val late = t - begin >= ((WARMUP + MAX_EXTRA_S) * 1e9).toLong()
        if (!quiet && !late) return false
        jitQuiet = quiet
        warmupS = (t - begin) / 1e9
        return true
    }

    /** The note for the result: how long the warm-up took and whether the JIT had settled. */
    fun extra(): Map<String, Any> = warmupNote(warmupS, jitQuiet)

    companion object {
        const val QUIET_MS = 10L
        const val QUIET_CHECKS = 3
        const val MAX_EXTRA_S = 20.0
    }
}

fun uniffiClient(pool: Int) = DurableClient(ClientOptions(workerUrl = URL, poolSize = pool.toUInt()))

val jdkHttp: HttpClient by lazy { HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build() }

suspend fun jdkCall(o: String, m: String, p: JsonElement): JsonElement {
    val request = HttpRequest.newBuilder(URI.create("$URL/object/$o/method/$m"))
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", hex(128))
        .header("traceparent", "00-${hex(128)}-${hex(64)}-01")
        .POST(HttpRequest.BodyPublishers.ofString(p.toString()))
        .build()
    val response = jdkHttp.sendAsync(request, HttpResponse.BodyHandlers.ofString()).await()
    val reply = Json.parseToJsonElement(response.body()).jsonObject
    if (response.statusCode() != 200) error("status ${response.statusCode()}: $reply")
    return reply["result"] ?: error("no result in $reply")
}

fun http(who: String, method: String, conc: Int) = runBlocking(Dispatchers.Default) {
    val client = if (who == "uniffi") uniffiClient(conc) else null
    val call: suspend (String, String, JsonElement) -> Unit =
        if (client != null) { o, m, p -> client.callMethod(o, m, p) } else { o, m, p -> jdkCall(o, m, p) }
    val settle = JitSettle()
    // The window [t0, t1] opens when the warm-up is over (see JitSettle).
    val window = java.util.concurrent.atomic.AtomicReference(Long.MAX_VALUE to Long.MAX_VALUE)
    val lat = ConcurrentLinkedQueue<Long>()
    val errors = AtomicLong()
    val jobs = (0 until conc).map { j ->
        launch {
            var n = 0L
            while (true) {
                val begin = now()
                if (begin >= window.get().second) break
                val ok = try { call(obj(j, n), method, params(method, n)); true } catch (e: Exception) {
                    if (errors.get() == 0L) System.err.println("error: $e"); false
                }
                n++
                val done = now()
                // Calls that complete inside the window count.
                val (t0, t1) = window.get()
                if (done in t0..t1) { if (ok) lat.add(done - begin) else errors.incrementAndGet() }
            }
        }
    }
    while (!settle.settled(now())) delay(100)
    val c0 = cpu(); val w0 = now()
    window.set(w0 to w0 + (SECONDS * 1e9).toLong())
    delay((SECONDS * 1000).toLong())
    val c1 = cpu(); val w1 = now()
    jobs.forEach { it.join() }
    report(lat.size, errors.get(), (w1 - w0) / 1e9, c1 - c0, lat.toList(), settle.extra())
    client?.close()
}

/** A JDK WebSocket whose whole text messages go to [onMessage]. */
fun jdkSocket(name: String, onMessage: (String) -> Unit): WebSocket {
    val listener = object : WebSocket.Listener {
        val buffer = StringBuilder()
        override fun onText(ws: WebSocket, data: CharSequence, last: Boolean): CompletionStage<*>? {
            buffer.append(data)
            if (last) { val text = buffer.toString(); buffer.setLength(0); onMessage(text) }
            ws.request(1)
            return null
        }
    }
    return jdkHttp.newWebSocketBuilder().buildAsync(URI.create("$WS_URL/object/$name/websocket"), listener).join()
}

fun type(text: String): String? =
    if (text == "pong") null else Json.parseToJsonElement(text).jsonObject["type"]?.jsonPrimitive?.content

fun wsSeq(who: String) = runBlocking(Dispatchers.Default) {
    val name = "$PREFIX-ws"
    val client = if (who == "uniffi") uniffiClient(1) else null
    val socket = client?.websocket(name)
    val inbox = Channel<JsonObject>(Channel.UNLIMITED)
    val jdk = if (client == null) jdkSocket(name) { text ->
        if (text != "pong") inbox.trySend(Json.parseToJsonElement(text).jsonObject)
    } else null
    if (jdk != null) while (inbox.receive()["type"]?.jsonPrimitive?.content != "init") {}
    val settle = JitSettle()
    var t1 = Long.MAX_VALUE
    val lat = ArrayList<Long>()
    var n = 0L
    var mark: Pair<Double, Long>? = null
    while (true) {
        val begin = now()
        if (begin >= t1) break
        if (mark == null && settle.settled(begin)) {
            mark = cpu() to begin
            t1 = begin + (SECONDS * 1e9).toLong()
        }
        if (socket != null) {
            socket.call("echo", params("echo", n))
        } else {
            val id = n.toString()
            val frame = buildJsonObject {
                put("type", "method"); put("id", id); put("method", "echo")
                put("params", params("echo", n)); put("idempotency_key", hex(128))
            }
            jdk!!.sendText(frame.toString(), true).await()
            while (true) {
                val m = inbox.receive()
                if (m["type"]?.jsonPrimitive?.content == "response" && m["id"]?.jsonPrimitive?.content == id) break
            }
        }
        n++
        if (mark != null) lat.add(now() - begin)
    }
    val (c0, w0) = mark!!
    report(lat.size, 0, (now() - w0) / 1e9, cpu() - c0, lat, settle.extra())
    socket?.closeGracefully()
    client?.close()
    jdk?.abort()
}

/**
 * Unmeasured warm-up bursts (each [burst] prints READY, on which bench.py fires one, and waits
 * for all of it) for at least BENCH_WARMUP seconds (3 s for the JVM), then until one whole burst
 * ran with the JIT compilers under [JitSettle.QUIET_MS] ms, or [JitSettle.MAX_EXTRA_S] seconds
 * more at the latest. Only a burst can show that: compilation follows the code that runs, so an
 * idle pause after a burst always looks quiet. With the pause as the test, C2 took 100-380 ms of
 * Kotlin's measured 20,000-message bursts (about as much as the client's own threads) and 17-201
 * ms of the JDK's. Returns its [warmupNote].
 */
suspend fun warmBursts(burst: suspend () -> Unit): Map<String, Any> {
    val jit = ManagementFactory.getCompilationMXBean()
    val begin = now()
    val atLeast = begin + (WARMUP * 1e9).toLong()
    val atMost = atLeast + (JitSettle.MAX_EXTRA_S * 1e9).toLong()
    var quiet: Boolean
    do {
        val before = jit.totalCompilationTime
        burst()
        quiet = jit.totalCompilationTime - before < JitSettle.QUIET_MS
    } while (now() < atLeast || (!quiet && now() < atMost))
    return warmupNote((now() - begin) / 1e9, quiet)
}

fun wsBurst(who: String, count: Int) = runBlocking(Dispatchers.Default) {
    val name = "$PREFIX-burst"
    // Every burst, warm-up or measured, goes through the same code (one receiving lambda), so
    // that the measured one runs the code the warm-up compiled.
    var received = 0
    var first = 0L
    var done = CompletableDeferred<Unit>()
    val onBench = {
        if (received == 0) first = now()
        if (++received == count) done.complete(Unit)
    }
    var closeAll: suspend () -> Unit
    var burst: suspend () -> Unit
    if (who == "uniffi") {
        val client = uniffiClient(1)
        val socket = client.websocket(name)
        val messages = socket.messages(256)
        messages.first { it.jsonObject["type"]?.jsonPrimitive?.content == "init" }
        burst = {
            messages.first { if (it.jsonObject["type"]?.jsonPrimitive?.content == "bench") onBench(); received >= count }
        }
        closeAll = { socket.closeGracefully(); client.close() }
    } else {
        val initSeen = CompletableDeferred<Unit>()
        // The listener runs on the JDK's own threads, one message at a time.
        val ws = jdkSocket(name) { text ->
            when (type(text)) {
                "init" -> initSeen.complete(Unit)
                "bench" -> onBench()
            }
        }
        initSeen.await()
        burst = { done.await() }
        closeAll = { ws.abort() }
    }
    val one: suspend () -> Unit = {
        received = 0; first = 0L; done = CompletableDeferred()
        println("READY"); System.out.flush()
        burst()
    }
    // Unmeasured bursts first, for the JIT (see warmBursts).
    val settle = warmBursts(one)
    val c0 = cpu(); val ready = now()
    one()
    val c = cpu() - c0
    val end = now()
    closeAll()
    val span = (end - (if (first > 0) first else ready)) / 1e9
    emit(mapOf("ops" to received, "errors" to 0, "wall_s" to (end - ready) / 1e9, "cpu_s" to c,
        "ops_per_s" to received / span, "cpu_us_per_op" to c * 1e6 / received, "first_to_last_s" to span) + settle)
}

fun sockets(who: String, count: Int) = runBlocking(Dispatchers.Default) {
    val client = if (who == "uniffi") uniffiClient(1) else null
    if (client != null) client.callMethod("$PREFIX-s-0", "echo") else jdkCall("$PREFIX-s-0", "echo", params("echo", 0))
    System.gc()
    val r0 = rss(); val c0 = cpu(); val t0 = now()
    val gate = Semaphore(OPEN_CONCURRENCY)
    val held = (0 until count).map { i ->
        async {
            gate.withPermit {
                val name = "$PREFIX-s-${i % 100}"
                try {
                    if (client != null) client.websocket(name)
                    else jdkHttp.newWebSocketBuilder()
                        .buildAsync(URI.create("$WS_URL/object/$name/websocket"), object : WebSocket.Listener {})
                        .await()
                } catch (e: Exception) { System.err.println("error: $e"); null }
            }
        }
    }.awaitAll().filterNotNull()
    val openS = (now() - t0) / 1e9
    val c = cpu() - c0
    delay(1000)
    System.gc()
    val r1 = rss()
    emit(mapOf("ops" to held.size, "errors" to count - held.size, "wall_s" to openS, "cpu_s" to c,
        "open_s" to openS, "rss_before" to r0, "rss_after" to r1,
        "bytes_per_socket" to (r1 - r0).coerceAtLeast(0) / held.size.coerceAtLeast(1).toDouble(),
        "cpu_us_per_op" to c * 1e6 / held.size.coerceAtLeast(1)))
    for (s in held) when (s) {
        is com.cloudflare.durable.DurableWebSocket -> s.close()
        is WebSocket -> s.abort()
    }
    client?.close()
}

fun main(args: Array<String>) {
    if (args.size < 2) { System.err.println("usage: Bench uniffi|jdk CASE ARGS"); exitProcess(2) }
    val (who, case) = args
    when (case) {
        "http" -> http(who, args[2], args[3].toInt())
        "ws_seq" -> wsSeq(who)
        "ws_burst" -> wsBurst(who, args[2].toInt())
        "sockets" -> sockets(who, args[2].toInt())
        else -> exitProcess(3)
    }
    exitProcess(0)
}
