package com.cloudflare.durable

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

/**
 * The native side of Swift's cancellable pulls (`FfiCancellation`, `nextBatchCancellable`,
 * `nextEventsCancellable`), run here through the same library: Swift cannot be run on this
 * machine, and uniffi's Swift futures ignore task cancellation, which is why they exist.
 */
@ExtendWith(SharedWorker::class)
class CancellationTest {
    private fun type(message: String) = Json.parseToJsonElement(message).jsonObject["type"]?.jsonPrimitive?.content

    @Test
    fun `a cancelled message pull returns empty at once and takes nothing`(worker: LocalWorker) = runBlocking<Unit> {
        FfiClient(worker.options()).use { client ->
            val name = "kt-cancel-ws-$runId"
            client.websocket(ObjectRef(name = name)).use { socket ->
                val cancellation = FfiCancellation()
                // Drain the init message; then nothing is waiting.
                val first = withTimeout(10.seconds) { socket.nextBatchCancellable(16u, cancellation) }
                assertEquals("init", type(first.first()))
                val pending = async { socket.nextBatchCancellable(16u, cancellation) }
                yield() // lets the pull start and wait
                cancellation.cancel()
                assertTrue(cancellation.isCancelled())
                // Bounded: without the cancellation it waited for the next message.
                assertEquals(emptyList<String>(), withTimeout(10.seconds) { pending.await() })
                // A later pull given the same switch returns empty without waiting, too.
                assertEquals(emptyList<String>(), withTimeout(10.seconds) { socket.nextBatchCancellable(16u, cancellation) })
                // Nothing was taken: the next message reaches a fresh pull.
                client.updateState(ObjectRef(name = name), "after", "2")
                val next = withTimeout(10.seconds) { socket.nextBatchCancellable(16u, FfiCancellation()) }
                assertEquals("update", type(next.first()))
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
            assertEquals(emptyList<ClientEvent>(), withTimeout(10.seconds) { pending.await() })
            client.shutdown()
        }
    }
}
