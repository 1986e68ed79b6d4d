package com.cloudflare.durable

import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
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

/** The scaffolding's four functions for the futures of one return type (R: what `complete` returns). */
private class FutureFunctions<R>(
    val poll: (Long, UniffiRustFutureContinuationCallback, Long) -> Unit,
    val cancel: (Long) -> Unit,
    val complete: (Long, UniffiRustCallStatus) -> R,
    val free: (Long) -> Unit,
)

private val bufferFutures = FutureFunctions(
    UniffiLib::ffi_cloudflare_durable_uniffi_rust_future_poll_rust_buffer,
    UniffiLib::ffi_cloudflare_durable_uniffi_rust_future_cancel_rust_buffer,
    UniffiLib::ffi_cloudflare_durable_uniffi_rust_future_complete_rust_buffer,
    UniffiLib::ffi_cloudflare_durable_uniffi_rust_future_free_rust_buffer,
)

private val byteFutures = FutureFunctions(
    UniffiLib::ffi_cloudflare_durable_uniffi_rust_future_poll_i8,
    UniffiLib::ffi_cloudflare_durable_uniffi_rust_future_cancel_i8,
    UniffiLib::ffi_cloudflare_durable_uniffi_rust_future_complete_i8,
    UniffiLib::ffi_cloudflare_durable_uniffi_rust_future_free_i8,
)

private val voidFutures = FutureFunctions(
    UniffiLib::ffi_cloudflare_durable_uniffi_rust_future_poll_void,
    UniffiLib::ffi_cloudflare_durable_uniffi_rust_future_cancel_void,
    UniffiLib::ffi_cloudflare_durable_uniffi_rust_future_complete_void,
    UniffiLib::ffi_cloudflare_durable_uniffi_rust_future_free_void,
)

/**
 * One uniffi future, driven through exactly the native calls that Swift's generated
 * `uniffiRustCallAsync`, as rewritten by `bindings/swift_cancellation.py`, makes: poll until
 * ready, `rust_future_cancel` from the task's cancellation handler, then complete and free.
 */
private class SwiftStyleFuture<R>(private val handle: Long, private val functions: FutureFunctions<R>) {
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
        functions.poll(handle, callback, 0L)
    }

    /** What Swift's task cancellation handler calls. */
    fun cancel() = functions.cancel(handle)

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
    fun <T> completeAndFree(lift: (R) -> T): Pair<Byte, T?> {
        try {
            val status = UniffiRustCallStatus()
            val value = functions.complete(handle, status)
            if (status.isError()) throw DurableObjectException.ErrorHandler.lift(status.error_buf)
            return status.code to if (status.isSuccess()) lift(value) else null
        } finally {
            functions.free(handle)
        }
    }
}

/**
 * The native side of Swift's cancellation, run here through the same library: Swift cannot be
 * run on this machine. Every Swift call cancels its uniffi future when its task is cancelled
 * ([SwiftStyleFuture]): every async function of the native library can fail, even the three that
 * never do (the event pull, the status wait, the close's wait), so that Swift's generated code
 * awaits none with `try!`.
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
        bufferFutures,
    )

    private fun FfiClient.nextEventsFuture(max: Int) = SwiftStyleFuture(
        callWithHandle { UniffiLib.uniffi_cloudflare_durable_uniffi_fn_method_fficlient_next_events(it, max) },
        bufferFutures,
    )

    private fun FfiWebSocket.nextBatchFuture(max: Int) = SwiftStyleFuture(
        callWithHandle { UniffiLib.uniffi_cloudflare_durable_uniffi_fn_method_ffiwebsocket_next_batch(it, max) },
        bufferFutures,
    )

    private fun FfiWebSocket.waitForStatusFuture(target: ConnectionStatus, timeoutMs: Long) = SwiftStyleFuture(
        callWithHandle {
            UniffiLib.uniffi_cloudflare_durable_uniffi_fn_method_ffiwebsocket_wait_for_status(
                it,
                FfiConverterTypeConnectionStatus.lower(target),
                timeoutMs,
            )
        },
        byteFutures,
    )

    private fun FfiWebSocket.closeAndWaitFuture() = SwiftStyleFuture(
        callWithHandle { UniffiLib.uniffi_cloudflare_durable_uniffi_fn_method_ffiwebsocket_close_and_wait(it) },
        voidFutures,
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
    fun `a cancelled event pull is ready at once and takes nothing`(worker: LocalWorker) = runBlocking<Unit> {
        FfiClient(worker.options()).use { client ->
            // A new client has no event yet: the pull waits (and starts the queueing).
            val future = client.nextEventsFuture(16)
            future.poll()
            future.cancel()
            // Without the cancel this waits for the next event and fails at the bound.
            future.awaitReady()
            assertEquals(CALL_CANCELLED to null, future.completeAndFree { FfiConverterSequenceTypeClientEvent.lift(it) })
            // Nothing was taken: the next call's first event reaches the next pull.
            client.callMethod(FfiMethodCall(ObjectRef(name = "kt-swift-cancel-events-$runId"), "echo", "1"))
            val first = withTimeout(10.seconds) { client.nextEvents(16u) }.first()
            assertTrue(first is ClientEvent.RequestStart, "first event after the cancelled pull: $first")
            client.shutdown()
        }
    }

    @Test
    fun `a cancelled status wait is ready at once and leaves the socket open`(worker: LocalWorker) =
        runBlocking<Unit> {
            FfiClient(worker.options()).use { client ->
                client.websocket(ObjectRef(name = "kt-swift-cancel-status-$runId")).use { socket ->
                    assertTrue(withTimeout(10.seconds) { socket.waitForStatus(ConnectionStatus.CONNECTED, 10_000uL) })
                    val future = socket.waitForStatusFuture(ConnectionStatus.CLOSED, 60_000L)
                    future.poll()
                    assertTrue(!future.calledBack(), "a wait for a close no one started reported back at once")
                    future.cancel()
                    // Without the cancel this waits 60 s and fails at the bound.
                    future.awaitReady()
                    assertEquals(CALL_CANCELLED to null, future.completeAndFree { FfiConverterBoolean.lift(it) })
                    assertEquals(ConnectionStatus.CONNECTED, socket.status())
                }
                client.shutdown()
            }
        }

    @Test
    fun `a close whose wait is cancelled before it starts still closes`(worker: LocalWorker) = runBlocking<Unit> {
        FfiClient(worker.options()).use { client ->
            client.websocket(ObjectRef(name = "kt-swift-cancel-close-$runId")).use { socket ->
                assertTrue(withTimeout(10.seconds) { socket.waitForStatus(ConnectionStatus.CONNECTED, 10_000uL) })
                // What Swift's closeGracefully() does in a task already cancelled: start the close,
                // then a wait whose cancellation handler runs before its first poll.
                socket.shutdown()
                val future = socket.closeAndWaitFuture()
                future.cancel()
                future.poll()
                future.awaitReady()
                assertEquals(CALL_CANCELLED to null, future.completeAndFree { })
                assertTrue(withTimeout(10.seconds) { socket.waitForStatus(ConnectionStatus.CLOSED, 10_000uL) })
            }
            client.shutdown()
        }
    }
}
