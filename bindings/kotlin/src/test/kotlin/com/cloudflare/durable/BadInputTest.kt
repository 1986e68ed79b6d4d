package com.cloudflare.durable

import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import kotlinx.serialization.json.put
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.extension.ExtendWith

/**
 * Kotlin's part of the bad-input suite: every bad input is a thrown [DurableObjectException]
 * subclass, nothing reaches the object (its state and run counts stay as they were), and the JVM
 * goes on. Then the hostile peer `tests/harness/hostile_server.py`. Prints how many were tried.
 */
@ExtendWith(SharedWorker::class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BadInputTest {
    private var tried = 0

    @AfterAll
    fun report() = println("bad-input: $tried bad inputs tried from Kotlin, each a DurableObjectException")

    /** Runs [block], which must throw a [DurableObjectException] of type [T]; counts it. */
    private inline fun <reified T : DurableObjectException> refused(what: String, noinline block: suspend () -> Unit): T {
        tried++
        val thrown = try {
            runBlocking { block() }
            null
        } catch (e: Throwable) {
            e
        }
        return when (thrown) {
            is T -> thrown
            null -> fail("$what: no error")
            else -> fail("$what: ${thrown::class.qualifiedName} instead of ${T::class.simpleName}: $thrown", thrown)
        }
    }

    @Test
    fun `bad names, keys, methods and payloads are refused before anything is sent`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val target = "kt-bad-$runId"
            client.initialize(target, buildJsonObject { put("value", 0) })
            val before = client.getState(target)
            // test_count is a method too: each call of it adds its own key.
            val countsBefore = client.callMethod(target, "test_count").jsonObject["counts"]!!.jsonObject
            val lone = "bad\uD800name"
            val badNames = listOf("", ".", "..", "x".repeat(513), "tab\tname", "nul\u0000", lone, "low\uDC00")
            for (name in badNames) {
                for ((op, call) in listOf<Pair<String, suspend () -> Unit>>(
                    "callMethod" to { client.callMethod(name, "increment") },
                    "getState" to { client.getState(name) },
                    "updateState" to { client.updateState(name, "k", JsonPrimitive(1)) },
                    "websocket" to { client.websocket(name).close() },
                    "list" to { client.list(name).collect {} },
                )) {
                    val e = refused<DurableObjectException.InvalidInput>("$op(${name.take(20)})", call)
                    assertEquals("object_name", e.field, e.reason)
                }
            }
            for (key in listOf("", ".", "..", "k".repeat(1025), "a\nb", "k\uD800")) {
                refused<DurableObjectException.InvalidInput>("key ${key.take(20)}") { client.updateState(target, key, JsonPrimitive(1)) }
                refused<DurableObjectException.InvalidInput>("getMany key") { client.getMany(target, listOf("ok", key)) }
                refused<DurableObjectException.InvalidInput>("tx key") { client.transaction(target, listOf(TxOp.Put("ok", JsonPrimitive(1)), TxOp.Put(key, JsonPrimitive(2)))) }
            }
            for (method in listOf("", "_private", "1abc", "has space", "dot.ted", "semi;colon", "../increment", "a/b", "ü", "m".repeat(129), "x\uD800")) {
                val e = refused<DurableObjectException.InvalidInput>("method $method") { client.callMethod(target, method) }
                assertEquals(if (method.contains('\uD800')) "method_name" else e.field, e.field)
                refused<DurableObjectException.InvalidInput>("batch method $method") { client.batch(target, listOf(BatchCall("increment"), BatchCall(method))) }
            }
            // Lone surrogates inside JSON values (they have no UTF-8 form).
            val loneJson = buildJsonObject { put("s", "x\uDBFFy") }
            refused<DurableObjectException.InvalidInput>("lone surrogate params") { client.callMethod(target, "increment", loneJson) }
            refused<DurableObjectException.InvalidInput>("lone surrogate value") { client.updateState(target, "k", loneJson) }
            refused<DurableObjectException.InvalidInput>("lone surrogate state") { client.initialize(target, loneJson) }
            refused<DurableObjectException.InvalidInput>("lone surrogate key in putMany") { client.putMany(target, mapOf("k\uD800" to JsonPrimitive(1))) }
            // Over the limits: a 1 MiB body, a 128 KiB value.
            val big = JsonPrimitive("x".repeat(1024 * 1024))
            val e = refused<DurableObjectException.InvalidInput>("1 MiB params") { client.callMethod(target, "increment", buildJsonObject { put("increment", 1); put("pad", big) }) }
            assertEquals("params", e.field)
            val value = JsonPrimitive("v".repeat(128 * 1024 + 1))
            refused<DurableObjectException.InvalidInput>("128 KiB value") { client.updateState(target, "k", value) }
            refused<DurableObjectException.InvalidInput>("128 KiB value in putMany") { client.putMany(target, mapOf("a" to JsonPrimitive(1), "b" to value)) }
            refused<DurableObjectException.InvalidInput>("128 KiB value in a transaction") { client.transaction(target, listOf(TxOp.Put("a", JsonPrimitive(1)), TxOp.Put("b", value))) }
            refused<DurableObjectException.InvalidInput>("1 MiB batch") { client.batch(target, List(2) { BatchCall("increment", buildJsonObject { put("pad", JsonPrimitive("x".repeat(600 * 1024))) }) }) }
            refused<DurableObjectException.InvalidInput>("129 keys") { client.putMany(target, (0..128).associate { "k$it" to JsonPrimitive(it) }) }
            refused<DurableObjectException.InvalidInput>("65 calls") { client.batch(target, List(65) { BatchCall("increment") }) }
            refused<DurableObjectException.InvalidInput>("initialize with a non-object") { client.ffiInitialize(target, "[1, 2]") }
            // Bad object references.
            refused<DurableObjectException.InvalidInput>("name and id") { client.getState(ObjectRef(name = "a", id = "0".repeat(64))) }
            refused<DurableObjectException.InvalidInput>("short id") { client.getState(ObjectRef.ofId("abc")) }
            refused<DurableObjectException.InvalidInput>("bad namespace") { client.getState(ObjectRef.named("a", namespace = "../x")) }
            refused<DurableObjectException.InvalidInput>("bad hint") { client.getState(ObjectRef.named("a").withLocationHint("W E U R")) }
            refused<DurableObjectException.InvalidInput>("bad idempotency key") { client.callMethod(target, "increment", idempotencyKey = "k".repeat(10_000)) }
            refused<DurableObjectException.InvalidInput>("bad traceparent") { client.withTraceparent("00-zz-zz-01") }
            refused<DurableObjectException.InvalidInput>("empty SQL") { client.sql(target, "  ") }
            refused<DurableObjectException.InvalidInput>("SQL object param") { client.sql(target, "SELECT ?", listOf(JsonObject(emptyMap()))) }

            // Nothing reached the object: its state and its run counts are as before.
            assertEquals(before, client.getState(target))
            val counts = client.callMethod(target, "test_count").jsonObject["counts"]!!.jsonObject
            assertEquals(countsBefore.size + 1, counts.size, "methods ran: $counts (before: $countsBefore)")
            // The JVM and the client go on.
            assertEquals(JsonPrimitive(1), client.callMethod(target, "increment").jsonObject["value"])
        }
    }

    @Test
    fun `invalid JSON text at the FFI is invalid input`(worker: LocalWorker) = runBlocking<Unit> {
        FfiClient(worker.options()).use { ffi ->
            val obj = ObjectRef.named("kt-badjson-$runId")
            for (text in listOf("", "{", "{not json", "[1,", "nul", "\"unterminated", "{\"a\":1}}", "NaN", "1e999999x")) {
                val e = refused<DurableObjectException.InvalidInput>("params $text") { ffi.callMethod(FfiMethodCall(obj, "echo", text)) }
                assertEquals("params", e.field)
                refused<DurableObjectException.InvalidInput>("value $text") { ffi.updateState(obj, "k", text) }
                refused<DurableObjectException.InvalidInput>("entries $text") { ffi.putMany(obj, text) }
                refused<DurableObjectException.InvalidInput>("sql params $text") { ffi.sql(obj, "SELECT 1", text) }
                refused<DurableObjectException.InvalidInput>("tx value $text") { ffi.transaction(obj, listOf(FfiTxOp.Put("k", text))) }
                refused<DurableObjectException.InvalidInput>("condition $text") { ffi.updateStateIf(obj, "k", "1", FfiCondition.Equals(text)) }
                refused<DurableObjectException.InvalidInput>("batch params $text") { ffi.batch(obj, listOf(FfiBatchCall("echo", text, null))) }
            }
            refused<DurableObjectException.InvalidInput>("entries not an object") { ffi.putMany(obj, "[1]") }
            refused<DurableObjectException.InvalidInput>("sql params not an array") { ffi.sql(obj, "SELECT 1", "{}") }
            refused<DurableObjectException.NotFound>("nothing was stored") { ffi.getStateKey(obj, "k") }
        }
    }

    @Test
    fun `a hostile server gets a clear error for every bad reply`() = runBlocking<Unit> {
        HarnessServer("hostile_server.py").use { server ->
            val options = ClientOptions(workerUrl = server.url, timeoutMs = 2000u, retryCount = 1u, retryDelayMs = 10u, websocketReconnectDelayMs = 20u)
            DurableClient(options).use { client ->
                val expected = mapOf(
                    "garbage" to DurableObjectException.InvalidResponse::class,
                    "html" to DurableObjectException.InvalidResponse::class,
                    "not-object" to DurableObjectException.InvalidResponse::class,
                    "no-result" to DurableObjectException.InvalidResponse::class,
                    "truncated" to DurableObjectException.NetworkException::class,
                    "endless" to DurableObjectException.InvalidResponse::class,
                    "hang" to DurableObjectException.Timeout::class,
                    "proxy-500" to DurableObjectException.ServerException::class,
                )
                for ((name, kind) in expected) {
                    val e = refused<DurableObjectException>("hostile $name") { client.callMethod(name, "echo") }
                    assertTrue(kind.isInstance(e), "$name: $e")
                    assertTrue(e.reason.length < 1000, "$name: message not bounded")
                }
                refused<DurableObjectException.InvalidResponse>("hostile get_state") { client.getState("garbage") }
                refused<DurableObjectException.InvalidResponse>("hostile list") { client.list("garbage").collect {} }
                // A POST the hostile server answers without reading its body may also be cut (RST).
                val sql = refused<DurableObjectException>("hostile sql") { client.sql("not-object", "SELECT 1") }
                assertTrue(sql is DurableObjectException.InvalidResponse || sql is DurableObjectException.NetworkException, sql.toString())

                // badframes: the bad frames are reported as events and skipped; the valid update arrives.
                val errors = java.util.concurrent.ConcurrentLinkedQueue<ClientEvent.Error>()
                val pulled = java.util.concurrent.atomic.AtomicBoolean(false)
                val collector = launch(kotlinx.coroutines.Dispatchers.Default) {
                    client.events().collect {
                        pulled.set(true)
                        if (it is ClientEvent.Error) errors += it
                    }
                }
                eventually(10.seconds, "the events collector pulls") {
                    runCatching { client.callMethod("garbage", "echo") }
                    pulled.get()
                }
                client.websocket("badframes").use { socket ->
                    val update = socket.messages().firstWithin { it.jsonObject["type"]?.jsonPrimitive?.content == "update" }
                    assertEquals(JsonPrimitive(1), update.jsonObject["value"])
                }
                eventually(10.seconds, "three bad frames reported") { errors.count { it.kind == "invalid_response" && it.operation == "websocket" } >= 3 }
                collector.cancel()
            }
        }
    }

    @Test
    fun `max_concurrent_requests bounds the requests a burst has in flight`() = runBlocking<Unit> {
        HarnessServer("hostile_server.py").use { server ->
            assertEquals(2L, heldAtOnce(server.url, "ktBounded", 2u))
            val unbounded = heldAtOnce(server.url, "ktUnbounded", null)
            assertTrue(unbounded >= 4, "without the bound: $unbounded")
            val e = refused<DurableObjectException.InvalidInput>("maxConcurrentRequests = 0") {
                DurableClient(ClientOptions(workerUrl = server.url, maxConcurrentRequests = 0u)).close()
            }
            assertTrue(e.reason.contains("max_concurrent_requests"), e.toString())
        }
    }
}

/** The most requests of [tag] the hostile server's `held` saw at once, over a burst of 6 calls. */
private suspend fun heldAtOnce(url: String, tag: String, limit: UInt?): Long =
    DurableClient(ClientOptions(workerUrl = url, maxConcurrentRequests = limit)).use { client ->
        kotlinx.coroutines.coroutineScope {
            (1..6).map { async(Dispatchers.Default) { client.callMethod("held", tag) } }.awaitAll()
        }.maxOf { it.jsonObject["max_in_flight"]!!.jsonPrimitive.long }
    }

/** The raw FFI initialize with JSON text, to pass what the typed API cannot express. */
private suspend fun DurableClient.ffiInitialize(objectName: String, stateJson: String) {
    FfiClient(ClientOptions(workerUrl = "http://127.0.0.1:9")).use { it.initialize(ObjectRef.named(objectName), stateJson) }
}
