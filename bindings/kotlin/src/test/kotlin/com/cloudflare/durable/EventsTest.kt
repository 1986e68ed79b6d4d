package com.cloudflare.durable

import java.util.concurrent.ConcurrentLinkedQueue
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.serialization.json.JsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.extension.ExtendWith

/** The client's lifecycle events as a Flow (pulled from a bounded native queue). */
@ExtendWith(SharedWorker::class)
class EventsTest {
    @Test
    fun `requests, errors and socket connections arrive as a Flow that ends on close`(worker: LocalWorker) = runBlocking<Unit> {
        val client = worker.client()
        val seen = ConcurrentLinkedQueue<ClientEvent>()
        val collector = launch(Dispatchers.Default) { client.events().collect { seen += it } }
        val obj = "kt-events-$runId"
        // Events are queued from the first pull on: wait until the collector is pulling.
        eventually(10.seconds, "the collector pulls") {
            client.callMethod(obj, "echo", JsonPrimitive(0))
            seen.any { it is ClientEvent.RequestStop }
        }
        client.callMethod(obj, "echo", JsonPrimitive(1))
        assertThrows<DurableObjectException.NotFound> { runBlocking { client.callMethod(obj, "no_such_method") } }
        client.websocket(obj).use { socket -> socket.awaitStatus(ConnectionStatus.CONNECTED, 5.seconds) }

        eventually(10.seconds, "start, stop, error and connected events") {
            seen.any { it is ClientEvent.WebSocketConnected && it.objectName == obj && it.reconnects == 0uL } &&
                seen.any { it is ClientEvent.Error && it.kind == "not_found" && it.operation == "call_method" }
        }
        val stops = seen.filterIsInstance<ClientEvent.RequestStop>().filter { it.objectName == obj && it.method == "echo" }
        assertTrue(stops.isNotEmpty())
        assertTrue(stops.all { it.errorKind == null && it.attempts >= 1u && it.operation == "call_method" }, stops.toString())
        assertTrue(seen.any { it is ClientEvent.RequestStart && it.method == "no_such_method" })
        val failed = seen.filterIsInstance<ClientEvent.RequestStop>().single { it.method == "no_such_method" }
        assertEquals("not_found", failed.errorKind)
        assertEquals(0L, client.eventsDropped)

        // Closing the client completes the Flow.
        client.close()
        withTimeout(10.seconds) { collector.join() }
    }
}
