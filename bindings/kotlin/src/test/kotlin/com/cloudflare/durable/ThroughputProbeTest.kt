package com.cloudflare.durable

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.put
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.extension.ExtendWith

/**
 * A quick loop that prints calls per second, sequential and concurrent, to compare how the binding
 * runs the core's futures. It prints figures and checks every answer; it asserts no speed.
 */
@ExtendWith(SharedWorker::class)
class ThroughputProbeTest {
    @Test
    fun `echo calls, sequential and concurrent`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val objects = (0 until 8).map { "kt-probe-$it-$runId" }
            for (o in objects) client.callMethod(o, "echo", JsonPrimitive(0)) // warm up
            val sequential = 500
            var t0 = System.nanoTime()
            for (i in 0 until sequential) {
                assertEquals(JsonPrimitive(i), client.callMethod(objects[i % 8], "echo", JsonPrimitive(i)))
            }
            val seqSeconds = (System.nanoTime() - t0) / 1e9
            val concurrent = 2000
            val width = 32
            t0 = System.nanoTime()
            val results = (0 until width).map { w ->
                async(Dispatchers.Default) {
                    var ok = 0
                    for (i in w until concurrent step width) {
                        val r = client.callMethod(objects[i % 8], "echo", buildJsonObject { put("i", i) })
                        if (r == buildJsonObject { put("i", i) }) ok++
                    }
                    ok
                }
            }.awaitAll()
            val conSeconds = (System.nanoTime() - t0) / 1e9
            assertEquals(concurrent, results.sum())
            println(
                "probe: sequential %d calls %.0f/s (%.2f ms each); concurrent %d calls x%d %.0f/s".format(
                    sequential, sequential / seqSeconds, seqSeconds * 1000 / sequential,
                    concurrent, width, concurrent / conSeconds,
                ),
            )
        }
    }
}
