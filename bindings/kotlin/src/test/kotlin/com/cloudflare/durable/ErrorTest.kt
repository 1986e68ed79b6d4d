package com.cloudflare.durable

import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.put
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.extension.ExtendWith

/** The error kinds, as one sealed exception family. */
@ExtendWith(SharedWorker::class)
class ErrorTest {
    private fun fail(status: Int, message: String, retryAfter: Double? = null) = buildJsonObject {
        put("status", status)
        put("message", message)
        if (retryAfter != null) put("retry_after", retryAfter)
    }

    @Test
    fun `not found`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val e = assertThrows<DurableObjectException.NotFound> {
                runBlocking { client.callMethod("kt-err-$runId", "frobnicate") }
            }
            assertEquals("not_found", e.kindName)
            assertEquals(404, e.statusCode)
            assertTrue(e.reason.contains("frobnicate"), e.reason)
            assertThrows<DurableObjectException.NotFound> { runBlocking { client.getStateKey("kt-err-$runId", "absent") } }
        }
    }

    @Test
    fun `server error carries status and message`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val e = assertThrows<DurableObjectException.ServerException> {
                runBlocking { client.callMethod("kt-err-$runId", "test_fail", fail(500, "boom")) }
            }
            assertEquals(500, e.statusCode)
            assertEquals("server_error", e.kindName)
            assertTrue(e.reason.contains("boom"), e.reason)
        }
    }

    /**
     * The generated layer reuses one call status per thread (bindings/kotlin_status_pool.py).
     * runBlocking keeps every call of this test on one thread, so errors and successes share that
     * status in turn: each error must be its own, and no success may see an earlier error.
     */
    @Test
    fun `errors and successes alternating on one thread each get their own outcome`(worker: LocalWorker) =
        runBlocking<Unit> {
            worker.client().use { client ->
                val thread = Thread.currentThread()
                repeat(10) { i ->
                    val e = assertThrows<DurableObjectException.ServerException> {
                        runBlocking { client.callMethod("kt-err-$runId", "test_fail", fail(500, "boom-$i")) }
                    }
                    assertTrue(e.reason.contains("boom-$i"), e.reason)
                    assertEquals(JsonPrimitive(i), client.callMethod("kt-err-$runId", "echo", JsonPrimitive(i)))
                    assertThrows<DurableObjectException.NotFound> {
                        runBlocking { client.getStateKey("kt-err-$runId", "absent-$i") }
                    }
                    assertEquals(JsonPrimitive("v$i"), client.callMethod("kt-err-$runId", "echo", JsonPrimitive("v$i")))
                    assertEquals(thread, Thread.currentThread())
                }
            }
        }

    @Test
    fun `rate limited carries retryAfter`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            // 120 s is beyond what the core waits out by itself, so it is reported at once.
            val e = assertThrows<DurableObjectException.RateLimited> {
                runBlocking { client.callMethod("kt-err-$runId", "test_fail", fail(429, "slow down", retryAfter = 120.0)) }
            }
            assertEquals(120.seconds, e.retryAfter)
            assertEquals(429, e.statusCode)
            assertEquals("rate_limited", e.kindName)
            // A Retry-After too large for any duration saturates instead of failing.
            val huge = assertThrows<DurableObjectException.RateLimited> {
                runBlocking { client.callMethod("kt-err-$runId", "test_fail", fail(429, "later", retryAfter = 1e300)) }
            }
            assertEquals(Duration.INFINITE, huge.retryAfter)
        }
    }

    @Test
    fun `other statuses are http errors`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val e = assertThrows<DurableObjectException.HttpException> {
                runBlocking { client.callMethod("kt-err-$runId", "test_fail", fail(418, "teapot")) }
            }
            assertEquals(418, e.statusCode)
            assertEquals("http_error", e.kindName)
        }
    }

    @Test
    fun `invalid input is refused before sending, with the field`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val badMethod = assertThrows<DurableObjectException.InvalidInput> {
                runBlocking { client.callMethod("kt-err-$runId", "a-b") }
            }
            assertEquals("method_name", badMethod.field)
            assertEquals("invalid_input", badMethod.kindName)
            val badName = assertThrows<DurableObjectException.InvalidInput> { runBlocking { client.getState("") } }
            assertEquals("object_name", badName.field)
            val badKey = assertThrows<DurableObjectException.InvalidInput> {
                runBlocking { client.updateState("kt-err-$runId", "", JsonPrimitive(1)) }
            }
            assertEquals("key", badKey.field)
            assertThrows<DurableObjectException.InvalidInput> { runBlocking { client.websocket("bad\nname") } }
        }
    }

    @Test
    fun `malformed JSON text at the FFI is invalid input, not a crash`(worker: LocalWorker) = runBlocking<Unit> {
        FfiClient(worker.options()).use { ffi ->
            val e = assertThrows<DurableObjectException.InvalidInput> {
                runBlocking { ffi.callMethod(FfiMethodCall(ObjectRef.named("kt-err-$runId"), "echo", "{not json")) }
            }
            assertEquals("params", e.field)
            assertThrows<DurableObjectException.InvalidInput> { runBlocking { ffi.initialize(ObjectRef.named("kt-err-$runId"), "[1, 2]") } }
        }
    }

    @Test
    fun `bad configuration is invalid input on construction`() {
        val e = assertThrows<DurableObjectException.InvalidInput> { DurableClient("http://example.com") }
        assertEquals("config", e.field)
        assertThrows<DurableObjectException.InvalidInput> { DurableClient("not a url") }
        assertThrows<DurableObjectException.InvalidInput> {
            DurableClient(ClientOptions(workerUrl = "http://127.0.0.1:1", timeoutMs = 0u))
        }
        val tooMany = assertThrows<DurableObjectException.InvalidInput> {
            DurableClient(ClientOptions(workerUrl = "http://127.0.0.1:1", maxConcurrentRequests = UInt.MAX_VALUE))
        }
        assertTrue("max_concurrent_requests must be at most" in tooMany.message.orEmpty(), tooMany.message)
        val tooLong = assertThrows<DurableObjectException.InvalidInput> {
            DurableClient(ClientOptions(workerUrl = "http://127.0.0.1:1", heartbeatIntervalMs = ULong.MAX_VALUE))
        }
        assertTrue("heartbeat_interval must be at most 365 days" in tooLong.message.orEmpty(), tooLong.message)
    }

    @Test
    fun `network error when nothing listens`() = runBlocking<Unit> {
        DurableClient(ClientOptions(workerUrl = "http://127.0.0.1:9", retryCount = 0u)).use { client ->
            val e = assertThrows<DurableObjectException.NetworkException> { runBlocking { client.getState("x") } }
            assertEquals("network_error", e.kindName)
        }
    }

    @Test
    fun `unauthorized without or with a wrong token`() = runBlocking<Unit> {
        LocalWorker(token = "kt-secret-token").start().use { worker ->
            worker.client().use { client ->
                client.updateState("kt-auth-$runId", "k", JsonPrimitive(1))
                assertEquals(JsonPrimitive(1), client.getStateKey("kt-auth-$runId", "k"))
            }
            for (token in listOf(null, "wrong-token")) {
                DurableClient(worker.url, apiToken = token).use { client ->
                    val e = assertThrows<DurableObjectException.Unauthorized> {
                        runBlocking { client.getState("kt-auth-$runId") }
                    }
                    assertEquals(401, e.statusCode)
                    assertEquals("unauthorized", e.kindName)
                    assertFalse(e.reason.contains("kt-secret-token"))
                    assertThrows<DurableObjectException.Unauthorized> { runBlocking { client.websocket("kt-auth-$runId") } }
                }
            }
        }
    }

    @Test
    fun `every core error kind has its exception subclass`() {
        val one: List<DurableObjectException> = listOf(
            DurableObjectException.InvalidInput("key", "r"),
            DurableObjectException.Unauthorized(401u, "r"),
            DurableObjectException.NotFound("r"),
            DurableObjectException.RateLimited(null, "r"),
            DurableObjectException.ServerException(500u, "r"),
            DurableObjectException.HttpException(418u, "r"),
            DurableObjectException.Timeout("r"),
            DurableObjectException.NetworkException("r"),
            DurableObjectException.InvalidResponse("r"),
            DurableObjectException.ConnectionClosed(1000u, "r"),
            DurableObjectException.QueueFull(1u, "r"),
            DurableObjectException.Conflict("r"),
        )
        assertEquals(errorKindNames(), one.map { it.kindName })
    }
}
