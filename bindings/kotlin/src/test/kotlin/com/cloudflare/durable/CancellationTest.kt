package com.cloudflare.durable

import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.extension.ExtendWith

/** uniffi's call status for a cancelled future; Swift's rewritten code throws `CancellationError` on it. */
private const val CALL_CANCELLED: Byte = 3

/** How long a cancelled future may take to report ready: far below the 20 s the sleeping call takes. */
private const val BOUND_MS = 10_000L

/**
 * One uniffi future returning a buffer, driven through exactly the native calls that Swift's
 * generated `uniffiRustCallAsync`, as rewritten by `bindings/swift_cancellation.py`, makes: poll
 * until ready, `rust_future_cancel` from the task's cancellation handler, then complete and free.
 */
private class SwiftStyleFuture(private val handle: Long) {
    @Volatile private var pollResult = CompletableFuture<Byte>()

    // Held in a field: JNA must keep the callback alive while native code may call it.
    private val callback = object : UniffiRustFutureContinuationCallback {
        override fun callback(data: Long, pollResult: Byte) {
            this@SwiftStyleFuture.pollResult.complete(pollResult)
        }
    }

    /** Polls once; the future calls back when it wants another poll or is ready. */
    fun poll() {
        pollResult = CompletableFuture()
        UniffiLib.ffi_cloudflare_durable_uniffi_rust_future_poll_rust_buffer(handle, callback, 0L)
    }

    /** What Swift's task cancellation handler calls. */
    fun cancel() = UniffiLib.ffi_cloudflare_durable_uniffi_rust_future_cancel_rust_buffer(handle)

    /** Whether the last poll has called back yet. */
    fun calledBack(): Boolean = pollResult.isDone

    /** Polls again on each wake-up until the future is ready; fails after [BOUND_MS]. */
    fun awaitReady() {
        val deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(BOUND_MS)
        while (pollResult.get(deadline - System.nanoTime(), TimeUnit.NANOSECONDS) != UNIFFI_RUST_FUTURE_POLL_READY) {
            poll()
        }
    }

    /** Completes and frees the future: its call status code, and its value if it succeeded. */
    fun <T> completeAndFree(lift: (RustBuffer.ByValue) -> T): Pair<Byte, T?> {
        try {
            val status = UniffiRustCallStatus()
            val buffer = UniffiLib.ffi_cloudflare_durable_uniffi_rust_future_complete_rust_buffer(handle, status)
            if (status.isError()) throw DurableObjectException.ErrorHandler.lift(status.error_buf)
            return status.code to if (status.isSuccess()) lift(buffer) else null
        } finally {
            UniffiLib.ffi_cloudflare_durable_uniffi_rust_future_free_rust_buffer(handle)
        }
    }
}

/**
 * The native side of Swift's cancellation, run here through the same library: Swift cannot be
 * run on this machine. Every Swift call that can fail cancels its uniffi future when its task is
 * cancelled ([SwiftStyleFuture]); the event pull, which cannot fail, is ended with an
 * `FfiCancellation` instead.
 */
@ExtendWith(SharedWorker::class)
class CancellationTest {
    private fun type(message: String) = Json.parseToJsonElement(message).jsonObject["type"]?.jsonPrimitive?.content

    private fun FfiClient.callMethodFuture(name: String, method: String, paramsJson: String) = SwiftStyleFuture(
        callWithHandle {
            UniffiLib.uniffi_cloudflare_durable_uniffi_fn_method_fficlient_call_method(
                it,
                FfiConverterTypeFfiMethodCall.lower(FfiMethodCall(ObjectRef(name = name), method, paramsJson)),
            )
        },
    )

    private fun FfiWebSocket.nextBatchFuture(max: Int) = SwiftStyleFuture(
        callWithHandle { UniffiLib.uniffi_cloudflare_durable_uniffi_fn_method_ffiwebsocket_next_batch(it, max) },
    )

    @Test
    fun `a call cancelled in flight is ready at once as cancelled, and the client goes on`(worker: LocalWorker) =
        runBlocking<Unit> {
            FfiClient(worker.options()).use { client ->
                val name = "kt-swift-cancel-$runId"
                val future = client.callMethodFuture(name, "test_sleep", """{"ms":20000}""")
                future.poll()
                assertTrue(!future.calledBack(), "a 20 s call reported back at once")
                future.cancel()
                // Without the cancel this waits for the worker's 20 s sleep and fails at the bound.
                future.awaitReady()
                assertEquals(CALL_CANCELLED to null, future.completeAndFree { FfiConverterString.lift(it) })
                val echoed = withTimeout(10.seconds) {
                    client.callMethod(FfiMethodCall(ObjectRef(name = name), "echo", "\"after\""))
                }
                assertEquals("\"after\"", echoed)
                client.shutdown()
            }
        }

    @Test
    fun `a call cancelled before its first poll sends nothing`(worker: LocalWorker) = runBlocking<Unit> {
        FfiClient(worker.options()).use { client ->
            val name = "kt-swift-cancel-early-$runId"
            // A task already cancelled when the call starts: the handler runs before the first poll.
            val future = client.callMethodFuture(name, "increment", """{"increment":5}""")
            future.cancel()
            future.poll()
            future.awaitReady()
            assertEquals(CALL_CANCELLED to null, future.completeAndFree { FfiConverterString.lift(it) })
            val value = client.callMethod(FfiMethodCall(ObjectRef(name = name), "get_value", "null"))
            assertEquals("{\"value\":0}", value)
            client.shutdown()
        }
    }

    @Test
    fun `a cancel after the call finished leaves its result`(worker: LocalWorker) = runBlocking<Unit> {
        FfiClient(worker.options()).use { client ->
            val name = "kt-swift-cancel-late-$runId"
            // Swift's handler can run after the last poll reported ready, before the completion.
            val future = client.callMethodFuture(name, "increment", """{"increment":2}""")
            future.poll()
            future.awaitReady()
            future.cancel()
            assertEquals(0.toByte() to "{\"value\":2}", future.completeAndFree { FfiConverterString.lift(it) })
            client.shutdown()
        }
    }

    @Test
    fun `a cancelled message pull is ready at once and takes nothing`(worker: LocalWorker) = runBlocking<Unit> {
        FfiClient(worker.options()).use { client ->
            val name = "kt-swift-cancel-ws-$runId"
            client.websocket(ObjectRef(name = name)).use { socket ->
                // Drain the init message; then nothing is waiting.
                assertEquals("init", type(withTimeout(10.seconds) { socket.nextBatch(16u) }.first()))
                val future = socket.nextBatchFuture(16)
                future.poll()
                future.cancel()
                // Without the cancel this waits for the next message and fails at the bound.
                future.awaitReady()
                assertEquals(CALL_CANCELLED to null, future.completeAndFree { FfiConverterSequenceString.lift(it) })
                // Nothing was taken: the next message reaches the next pull.
                client.updateState(ObjectRef(name = name), "after", "2")
                assertEquals("update", type(withTimeout(10.seconds) { socket.nextBatch(16u) }.first()))
            }
            client.shutdown()
        }
    }

    @Test
    fun `a cancelled event pull returns empty at once`(worker: LocalWorker) = runBlocking<Unit> {
        FfiClient(worker.options()).use { client ->
            val cancellation = FfiCancellation()
            // A new client has no event yet: the pull waits.
            val pending = async { client.nextEventsCancellable(16u, cancellation) }
            yield()
            cancellation.cancel()
            assertTrue(cancellation.isCancelled())
            assertEquals(emptyList<ClientEvent>(), withTimeout(10.seconds) { pending.await() })
            // A later pull given the same switch returns empty without waiting, too.
            assertEquals(emptyList<ClientEvent>(), withTimeout(10.seconds) { client.nextEventsCancellable(16u, cancellation) })
            client.shutdown()
        }
    }
}
