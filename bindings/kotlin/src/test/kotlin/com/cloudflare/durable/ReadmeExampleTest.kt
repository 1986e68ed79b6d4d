package com.cloudflare.durable

import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.put
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.extension.ExtendWith

/** The usage example of README.md, verbatim between the markers. */
@ExtendWith(SharedWorker::class)
class ReadmeExampleTest {
    @Test
    fun `the README example runs`(worker: LocalWorker) = runBlocking<Unit> {
        val workerUrl = worker.url
        val counter = "counter-$runId"
        // README-BEGIN
        DurableClient(workerUrl).use { client ->
            client.initialize(counter, buildJsonObject { put("value", 0) })
            val result = client.callMethod(counter, "increment", buildJsonObject { put("increment", 1) })
            println(result) // {"value":1}

            client.websocket(counter).use { socket ->
                client.updateState(counter, "value", JsonPrimitive(42))
                val update = socket.messages().first { it.jsonObject["type"]?.jsonPrimitive?.content == "update" }
                println(update) // {"type":"update","key":"value","value":42,"seq":…,"timestamp":…}
            }

            try {
                client.callMethod(counter, "no_such_method")
            } catch (e: DurableObjectException.NotFound) {
                println("${e.kindName}: ${e.reason}") // not_found: not found: no method …
            }
        }
        // README-END
        worker.client().use { assertEquals(JsonPrimitive(42), it.getStateKey(counter, "value")) }
    }
}
