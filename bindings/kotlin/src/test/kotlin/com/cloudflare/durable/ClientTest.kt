package com.cloudflare.durable

import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.put
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.extension.ExtendWith

/** Every HTTP operation of the client against the real local worker. */
@ExtendWith(SharedWorker::class)
class ClientTest {
    @Test
    fun `initialize, callMethod, getState, getStateKey`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val name = "kt-counter-$runId"
            client.initialize(name, buildJsonObject { put("value", 10) })
            val result = client.callMethod(name, "increment", buildJsonObject { put("increment", 5) })
            assertEquals(15, result.jsonObject["value"]!!.jsonPrimitive.int)
            assertEquals(JsonPrimitive(15), client.getStateKey(name, "value"))
            assertEquals(JsonObject(mapOf("value" to JsonPrimitive(15))), client.getState(name))
        }
    }

    /**
     * HTTP calls run as tasks on the core's runtime; cancelling the coroutine must abort that task
     * rather than wait for the worker's reply, and leave the client usable.
     */
    @Test
    fun `cancelling a call in flight returns at once and the client goes on`(worker: LocalWorker) =
        runBlocking<Unit> {
            worker.client().use { client ->
                val name = "kt-cancel-$runId"
                val started = System.nanoTime()
                val outcome = withTimeoutOrNull(300) {
                    client.callMethod(name, "test_sleep", buildJsonObject { put("ms", 20_000) })
                }
                val elapsedMs = (System.nanoTime() - started) / 1_000_000
                assertEquals(null, outcome)
                // Far below the 20 s the worker sleeps: the call was abandoned, not awaited.
                assertTrue(elapsedMs < 10_000, "cancellation took $elapsedMs ms")
                assertEquals(JsonPrimitive("after"), client.callMethod(name, "echo", JsonPrimitive("after")))
            }
        }

    @Test
    fun `updateState and deleteState round trip every JSON type`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val name = "kt-state-$runId"
            val value = JsonObject(
                mapOf(
                    "list" to JsonArray(listOf(JsonPrimitive(1), JsonPrimitive(2.5), JsonPrimitive("x"), JsonPrimitive(true), JsonNull)),
                    "unicode" to JsonPrimitive("héllo ✓ 日本"),
                    "empty" to JsonObject(emptyMap()),
                ),
            )
            client.updateState(name, "doc", value)
            assertTrue(jsonEquals(value, client.getStateKey(name, "doc")))
            client.deleteState(name, "doc")
            assertThrows<DurableObjectException.NotFound> { runBlocking { client.getStateKey(name, "doc") } }
            client.deleteState(name, "never-set") // absent key: no error
            assertEquals(JsonObject(emptyMap()), client.getState(name))
        }
    }

    @Test
    fun `a reused idempotency key runs the method once`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val name = "kt-idem-$runId"
            val params = buildJsonObject { put("increment", 1) }
            val first = client.callMethod(name, "increment", params, idempotencyKey = "kt-key-1")
            val again = client.callMethod(name, "increment", params, idempotencyKey = "kt-key-1")
            assertEquals(first, again)
            assertEquals(1, client.callMethod(name, "get_value").jsonObject["value"]!!.jsonPrimitive.int)
        }
    }

    @Test
    fun `echo returns any JSON unchanged`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            for (params in listOf(JsonPrimitive("text"), JsonArray(listOf(JsonPrimitive(-3), JsonNull)), JsonPrimitive(0.5))) {
                assertTrue(jsonEquals(params, client.callMethod("kt-echo-$runId", "echo", params)))
            }
        }
    }

    @Test
    fun `a closed client refuses further calls`(worker: LocalWorker) {
        val client = worker.client()
        client.close()
        client.close() // idempotent
        assertThrows<IllegalStateException> { runBlocking { client.getState("kt-closed-$runId") } }
    }
}
