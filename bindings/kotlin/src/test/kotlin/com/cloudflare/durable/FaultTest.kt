package com.cloudflare.durable

import java.util.concurrent.atomic.AtomicLong
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withTimeout
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import kotlinx.serialization.json.longOrNull
import kotlinx.serialization.json.put
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * Kotlin's part of the fault suite (mirrors core/tests/faults.rs): 1,000 increments of one counter
 * through the loopback proxy `tests/harness/fault_proxy.py`, which drops 5 % of replies after the
 * request reached the object, while the worker is SIGKILLed and restarted 10 times by the harness.
 * Every call carries an explicit idempotency key. Every call reported successful must count
 * exactly once (final value == successes, no key ran twice per the worker's `test_count`), and a
 * subscriber socket straight to the worker must see a gap-free `seq` sequence or explicit resyncs.
 */
class FaultTest {
    private val calls = 1_000L
    private val concurrency = 4
    private val restarts = 10L

    @Test
    fun `exactly once under kills and dropped replies`() = runBlocking<Unit> {
        LocalWorker().start().use { worker ->
            val port = worker.url.substringAfterLast(':').trimEnd('/')
            HarnessServer("fault_proxy.py", "--target-port", port, "--drop-rate", "0.05").use { proxy ->
                val obj = "kt-faults-$runId"
                val options = worker.options().copy(workerUrl = proxy.url, timeoutMs = 3000u, retryCount = 12u, retryDelayMs = 20u)
                DurableClient(options).use { client ->
                    client.initialize(obj, buildJsonObject { put("value", 0) })
                    worker.client().use { subscriber ->
                        subscriber.websocket(obj).use { socket ->
                            run(worker, client, socket, obj, proxy)
                        }
                    }
                }
            }
        }
    }

    private suspend fun run(worker: LocalWorker, client: DurableClient, socket: DurableWebSocket, obj: String, proxy: HarnessServer) {
        val successes = AtomicLong()
        val started = AtomicLong()
        val params = buildJsonObject { put("increment", 1) }
        val (outcomes, restarted) = coroutineScope {
            val callers = (0 until concurrency).map { c ->
                async(Dispatchers.Default) {
                    val keys = mutableListOf<String>()
                    val unresolved = mutableListOf<String>()
                    while (started.getAndIncrement() < calls) {
                        val key = "kt-inc-$runId-$c-${keys.size + unresolved.size}"
                        try {
                            client.callMethod(obj, "increment", params, idempotencyKey = key)
                            successes.incrementAndGet()
                            keys += key
                        } catch (e: DurableObjectException) {
                            unresolved += key
                        }
                    }
                    keys to unresolved
                }
            }
            // Restart the worker (SIGKILL, same port and storage) every calls / (restarts + 1) successes.
            val killer = async(Dispatchers.IO) {
                var done = 0L
                while (done < restarts) {
                    val due = (done + 1) * calls / (restarts + 1)
                    while (successes.get() < due) delay(5)
                    worker.restart()
                    done++
                }
                done
            }
            val outcomes = callers.awaitAll()
            outcomes to withTimeout(120.seconds) { killer.await() }
        }
        val keys = outcomes.flatMap { it.first }.toMutableList()
        val unresolved = outcomes.flatMap { it.second }
        // A call that exhausted its retries may or may not have run: repeat it with the same key,
        // which runs it at most once.
        for (key in unresolved) {
            client.callMethod(obj, "increment", params, idempotencyKey = key)
            successes.incrementAndGet()
            keys += key
        }
        val finalValue = client.callMethod(obj, "get_value").jsonObject["value"]!!.jsonPrimitive.long
        val counts = client.callMethod(obj, "test_count").jsonObject["counts"]!!.jsonObject
        val duplicates = keys.count { (counts[it]?.jsonPrimitive?.longOrNull ?: 0) > 1 }
        val (updates, resyncs) = watchUntil(socket, finalValue)
        val stats = Json.parseToJsonElement(proxy.run("stats")).jsonObject
        val dropped = stats["replies_dropped"]!!.jsonPrimitive.long
        println(
            "faults (kotlin): calls=$calls successes=${successes.get()} failed_then_resolved=${unresolved.size} final=$finalValue " +
                "restarts=$restarted replies_dropped=$dropped duplicates=$duplicates updates_seen=$updates resyncs=$resyncs",
        )
        assertEquals(calls, keys.toSet().size.toLong())
        assertEquals(calls, successes.get())
        assertEquals(successes.get(), finalValue, "lost or doubled increments")
        assertEquals(0, duplicates)
        assertTrue(restarted >= restarts)
        assertTrue(dropped > 0, "the proxy dropped nothing: $stats")
        assertTrue(socket.awaitStatus(ConnectionStatus.CONNECTED, 10.seconds))
    }

    /** Reads the subscriber until it shows [target]; each update must follow the last `seq` by one unless a resync came between. */
    private suspend fun watchUntil(socket: DurableWebSocket, target: Long): Pair<Long, Long> {
        var updates = 0L
        var resyncs = 0L
        var lastSeq: Long? = null
        var value = 0L
        withTimeout(30.seconds) {
            socket.messages().first { m ->
                val o = m.jsonObject
                val seq = o["seq"]?.jsonPrimitive?.longOrNull
                when (val type = o["type"]?.jsonPrimitive?.content) {
                    "init", "resync" -> {
                        if (type == "resync") resyncs++
                        lastSeq = seq
                        value = o["state"]?.jsonObject?.get("value")?.jsonPrimitive?.longOrNull ?: 0
                    }
                    "update" -> {
                        lastSeq?.let { assertEquals(it + 1, seq, "gap or duplicate without a resync: $m") }
                        lastSeq = seq
                        value = o["value"]!!.jsonPrimitive.long
                        updates++
                    }
                }
                value == target
            }
        }
        return updates to resyncs
    }
}
