package com.cloudflare.durable

import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import kotlinx.serialization.json.put
import kotlinx.serialization.json.putJsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.extension.ExtendWith

private fun JsonObject.str(key: String) = this[key]?.jsonPrimitive?.content

/** WebSockets: the message Flow, calls and sends over the socket, backpressure, close, reconnect. */
@ExtendWith(SharedWorker::class)
class WebSocketTest {
    @Test
    fun `the Flow receives init, then a broadcast update`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val name = "kt-ws-update-$runId"
            client.initialize(name, buildJsonObject { put("value", 1) })
            client.websocket(name).use { socket ->
                assertEquals(ConnectionStatus.CONNECTED, socket.status)
                assertEquals(name, socket.objectName)
                val init = socket.messages().firstWithin { true }.jsonObject
                assertEquals("init", init.str("type"))
                assertEquals(1, init["state"]!!.jsonObject["value"]!!.jsonPrimitive.int)
                client.updateState(name, "value", JsonPrimitive(7))
                val update = socket.messages().firstWithin { it.jsonObject.str("type") == "update" }.jsonObject
                assertEquals("value", update.str("key"))
                assertEquals(7, update["value"]!!.jsonPrimitive.int)
            }
        }
    }

    @Test
    fun `a call over the socket returns its result and its broadcast arrives`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            client.websocket("kt-ws-call-$runId").use { socket ->
                val result = socket.call("increment", buildJsonObject { put("increment", 3) })
                assertEquals(3, result.jsonObject["value"]!!.jsonPrimitive.int)
                val echoed = socket.call("echo", buildJsonObject { put("text", "✓") })
                assertEquals("✓", echoed.jsonObject.str("text"))
                socket.call("broadcast", buildJsonObject { putJsonObject("event") { put("type", "cursor"); put("x", 4) } })
                val event = socket.messages().firstWithin { it.jsonObject.str("type") == "cursor" }.jsonObject
                assertEquals(4, event["x"]!!.jsonPrimitive.int)
                val error = assertThrows<DurableObjectException.NotFound> { runBlocking { socket.call("no_such_method") } }
                assertEquals("not_found", error.kindName)
            }
        }
    }

    @Test
    fun `send writes an update that is broadcast back`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val name = "kt-ws-send-$runId"
            client.websocket(name).use { socket ->
                socket.send(buildJsonObject { put("type", "update"); put("key", "color"); put("value", "teal") })
                val update = socket.messages().firstWithin { it.jsonObject.str("key") == "color" }.jsonObject
                assertEquals("teal", update.str("value"))
                assertEquals(JsonPrimitive("teal"), client.getStateKey(name, "color"))
            }
        }
    }

    @Test
    fun `a slow consumer loses nothing (backpressure)`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client { it.copy(messageBuffer = 4u) }.use { client ->
            val name = "kt-ws-slow-$runId"
            client.websocket(name).use { socket ->
                val total = 40
                // Nobody reads while the object broadcasts far more than the buffer holds.
                repeat(total) { client.updateState(name, "n", JsonPrimitive(it)) }
                val updates = withTimeout(20.seconds) {
                    socket.messages(batchSize = 3).take(total + 1).toList()
                }.map { it.jsonObject }.filter { it.str("type") == "update" }
                assertEquals((0 until total).toList(), updates.map { it["value"]!!.jsonPrimitive.int })
                val seqs = updates.map { it["seq"]!!.jsonPrimitive.long }
                assertEquals((seqs.first() until seqs.first() + total).toList(), seqs)
            }
        }
    }

    @Test
    fun `closeGracefully ends the Flow and later calls fail with ConnectionClosed`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val socket = client.websocket("kt-ws-close-$runId")
            socket.closeGracefully()
            assertEquals(ConnectionStatus.CLOSED, socket.status)
            assertEquals(emptyList<Any>(), withTimeout(10.seconds) { socket.messages().toList() })
            assertThrows<DurableObjectException.ConnectionClosed> { runBlocking { socket.call("echo") } }
            socket.close()
            socket.close() // idempotent
            assertThrows<IllegalStateException> { socket.status }
        }
    }

    @Test
    fun `closing the client closes its sockets`(worker: LocalWorker) = runBlocking<Unit> {
        val client = worker.client()
        val socket = client.websocket("kt-ws-client-close-$runId")
        client.close()
        assertTrue(socket.awaitStatus(ConnectionStatus.CLOSED, 10.seconds))
        socket.close()
    }

    @Test
    fun `a refusal close code ends the Flow with ConnectionClosed`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val name = "kt-ws-refused-$runId"
            client.websocket(name).use { socket ->
                client.callMethod(name, "test_close_sockets", buildJsonObject { put("code", 4001); put("reason", "go away") })
                val error = assertThrows<DurableObjectException.ConnectionClosed> {
                    runBlocking { withTimeout(10.seconds) { socket.messages().toList() } }
                }
                assertEquals(4001, error.statusCode)
                assertEquals("connection_closed", error.kindName)
                assertTrue(socket.awaitStatus(ConnectionStatus.CLOSED, 10.seconds))
            }
        }
    }

    @Test
    fun `the socket reconnects after a worker restart and resumes`() = runBlocking<Unit> {
        LocalWorker().start().use { worker ->
            worker.client().use { client ->
                val name = "kt-ws-restart-$runId"
                client.initialize(name, buildJsonObject { put("value", 0) })
                client.websocket(name).use { socket ->
                    assertEquals("init", socket.messages().firstWithin { true }.jsonObject.str("type"))
                    worker.restart()
                    // Sent while the link may be down: queued, then delivered after the reconnect.
                    val result = socket.call("increment", buildJsonObject { put("increment", 2) })
                    assertEquals(2, result.jsonObject["value"]!!.jsonPrimitive.int)
                    assertTrue(socket.awaitStatus(ConnectionStatus.CONNECTED, 15.seconds))
                    client.updateState(name, "after", JsonPrimitive("restart"))
                    val update = socket.messages().firstWithin(15.seconds) { it.jsonObject.str("key") == "after" }
                    assertEquals("restart", update.jsonObject.str("value"))
                }
            }
        }
    }
}
