package com.cloudflare.durable

import java.nio.file.Files
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import kotlinx.serialization.json.put
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.extension.ExtendWith

/** The whole Durable Object surface against the real local worker (mirrors core/tests/surface.rs). */
@ExtendWith(SharedWorker::class)
class SurfaceTest {
    private fun <T> sync(block: suspend () -> T): T = runBlocking { block() }

    @Test
    fun `namespaces and ids address objects`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val name = "kt-ns-$runId"
            val sql = ObjectRef.named(name, namespace = "sql")
            client.updateState(sql, "k", JsonPrimitive("in sql"))
            client.updateState(name, "k", JsonPrimitive("in default"))
            assertEquals(JsonPrimitive("in sql"), client.getStateKey(sql, "k"))
            assertEquals(JsonPrimitive("in default"), client.getStateKey(name, "k"))

            val id = client.namespaceObjectId(name, namespace = "sql")
            assertEquals(64, id.length)
            assertEquals(JsonPrimitive("in sql"), client.getStateKey(ObjectRef.ofId(id).inNamespace("sql"), "k"))

            val fresh = client.newUniqueId()
            assertNotEquals(id, fresh)
            client.initialize(ObjectRef.ofId(fresh), buildJsonObject { put("a", 1) })
            assertEquals(JsonPrimitive(1), client.getState(ObjectRef.ofId(fresh))["a"])

            client.updateState(ObjectRef.named("kt-hint-$runId").withLocationHint("weur"), "k", JsonPrimitive(1))
            assertThrows<DurableObjectException.NotFound> { sync { client.getState(ObjectRef.named("x", namespace = "nope")) } }
            val both = assertThrows<DurableObjectException.InvalidInput> { sync { client.getState(ObjectRef(name = "x", id = id)) } }
            assertEquals("object_name", both.field)
            assertThrows<DurableObjectException.InvalidInput> { sync { client.getState(ObjectRef()) } }
            assertThrows<DurableObjectException.InvalidInput> { sync { client.getState(ObjectRef.ofId("xyz")) } }
        }
    }

    @Test
    fun `default namespace setting`(worker: LocalWorker) = runBlocking<Unit> {
        val name = "kt-defns-$runId"
        worker.client { it.copy(defaultNamespace = "sql") }.use { client ->
            client.updateState(name, "k", JsonPrimitive("via default"))
        }
        worker.client().use { client ->
            assertEquals(JsonPrimitive("via default"), client.getStateKey(ObjectRef.named(name, "sql"), "k"))
            assertThrows<DurableObjectException.NotFound> { sync { client.getStateKey(name, "k") } }
        }
    }

    @Test
    fun `storage many, all, and the paged list flow`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val obj = ObjectRef.named("kt-store-$runId")
            client.websocket(obj).use { socket ->
                socket.messages().firstWithin { it.jsonObject["type"]?.jsonPrimitive?.content == "init" }
                val entries = (0 until 100).associate { "item:%03d".format(it) to JsonPrimitive(it) }
                entries.entries.chunked(50).forEach { chunk -> client.putMany(obj, chunk.associate { it.key to it.value }) }
                client.putMany(obj, mapOf("other" to JsonPrimitive("x")))
                val first = socket.messages().firstWithin { it.jsonObject["type"]?.jsonPrimitive?.content == "update" }
                assertTrue(first.jsonObject["key"]!!.jsonPrimitive.content.startsWith("item:"))

                val got = client.getMany(obj, listOf("item:001", "item:050", "absent"))
                assertEquals(JsonObject(mapOf("item:001" to JsonPrimitive(1), "item:050" to JsonPrimitive(50))), got)

                // The Flow walks all 100 in order, 16 per page.
                val walked = client.list(obj, ListOptions(prefix = "item:", limit = 16u)).toList()
                assertEquals(entries.keys.toList(), walked.map { it.key })
                assertEquals(JsonPrimitive(42), walked[42].value)
                // Stopping early is fine (and fetches no more pages).
                assertEquals(listOf("item:000", "item:001", "item:002"), client.list(obj, ListOptions(prefix = "item:", limit = 2u)).take(3).map { it.key }.toList())

                val reversed = client.listPage(obj, ListOptions(start = "item:010", end = "item:020", reverse = true))
                assertEquals("item:019", reversed.entries.first().key)
                assertEquals(10, reversed.entries.size)
                assertNull(reversed.cursor)
                val paged = client.listPage(obj, ListOptions(prefix = "item:", limit = 60u))
                val rest = client.listPage(obj, ListOptions(prefix = "item:", limit = 60u), paged.cursor)
                assertEquals(100, paged.entries.size + rest.entries.size)

                assertEquals(2L, client.deleteMany(obj, listOf("item:000", "item:001", "absent")))
                assertEquals(99L, client.deleteAll(obj))
                assertEquals(JsonObject(emptyMap()), client.getState(obj))
                assertThrows<DurableObjectException.InvalidInput> { sync { client.getMany(obj, emptyList()) } }
                assertThrows<DurableObjectException.InvalidInput> { sync { client.listPage(obj, ListOptions(limit = 0u)) } }
            }
        }
    }

    @Test
    fun `transactions and conditional writes`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val obj = "kt-tx-$runId"
            client.initialize(obj, buildJsonObject { put("balance", 10) })
            val results = client.transaction(
                obj,
                listOf(
                    TxOp.CheckEquals("balance", JsonPrimitive(10)),
                    TxOp.Put("balance", JsonPrimitive(7)),
                    TxOp.Put("spent", JsonPrimitive(3)),
                    TxOp.Get("balance"),
                    TxOp.Delete("spent"),
                    TxOp.CheckAbsent("never"),
                ),
            )
            assertEquals(buildJsonObject { put("value", 7) }, results[3])
            assertEquals(buildJsonObject { put("deleted", true) }, results[4])

            val conflict = assertThrows<DurableObjectException.Conflict> {
                sync { client.transaction(obj, listOf(TxOp.Put("balance", JsonPrimitive(0)), TxOp.CheckEquals("balance", JsonPrimitive(10)))) }
            }
            assertEquals("conflict", conflict.kindName)
            assertEquals(409, conflict.statusCode)
            assertEquals(JsonPrimitive(7), client.getStateKey(obj, "balance"))

            client.updateStateIf(obj, "balance", JsonPrimitive(5), Condition.Equals(JsonPrimitive(7)))
            assertThrows<DurableObjectException.Conflict> { sync { client.updateStateIf(obj, "balance", JsonPrimitive(1), Condition.Equals(JsonPrimitive(7))) } }
            client.updateStateIf(obj, "fresh", JsonPrimitive(1), Condition.Absent)
            assertThrows<DurableObjectException.Conflict> { sync { client.updateStateIf(obj, "fresh", JsonPrimitive(2), Condition.Absent) } }
            assertEquals(JsonPrimitive(5), client.getStateKey(obj, "balance"))
            assertThrows<DurableObjectException.InvalidInput> { sync { client.transaction(obj, emptyList()) } }
        }
    }

    @Test
    fun `alarms fire and reach the sockets`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val obj = ObjectRef.named("kt-alarm-$runId")
            assertNull(client.getAlarm(obj))
            client.websocket(obj).use { socket ->
                val far = System.currentTimeMillis() + 3_600_000
                client.setAlarm(obj, far)
                assertEquals(far, client.getAlarm(obj))
                client.deleteAlarm(obj)
                assertNull(client.getAlarm(obj))

                val soon = System.currentTimeMillis() + 200
                client.setAlarm(obj, soon)
                val fired = socket.messages().firstWithin(10.seconds) { it.jsonObject["type"]?.jsonPrimitive?.content == "alarm" }
                assertEquals(soon, fired.jsonObject["time"]!!.jsonPrimitive.long)
                assertNull(client.getAlarm(obj))
                assertThrows<DurableObjectException.InvalidInput> { sync { client.setAlarm(obj, -1) } }
                assertThrows<DurableObjectException.InvalidInput> { sync { client.setAlarm(obj, Long.MAX_VALUE) } }
            }
        }
    }

    @Test
    fun `sql with bound parameters and read-only mode`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val rw = ObjectRef.named("kt-sql-$runId", namespace = "sql")
            client.sql(rw, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
            val inserted = client.sql(rw, "INSERT INTO notes (body) VALUES (?), (?)", listOf(JsonPrimitive("a'; DROP TABLE notes; --"), JsonPrimitive("b")))
            assertEquals(2L, inserted.rowsWritten)
            val selected = client.sql(rw, "SELECT id, body FROM notes WHERE id >= ? ORDER BY id", listOf(JsonPrimitive(1)))
            assertEquals(listOf("id", "body"), selected.columns)
            assertEquals(
                listOf(listOf(JsonPrimitive(1), JsonPrimitive("a'; DROP TABLE notes; --")), listOf(JsonPrimitive(2), JsonPrimitive("b"))),
                selected.rows,
            )
            val bad = assertThrows<DurableObjectException> { sync { client.sql(rw, "SELEKT nonsense") } }
            assertTrue(bad is DurableObjectException.InvalidInput || bad is DurableObjectException.ServerException, bad.toString())

            val ro = ObjectRef.named("kt-sqlro-$runId", namespace = "sqlro")
            assertThrows<DurableObjectException.InvalidInput> { sync { client.sql(ro, "CREATE TABLE t (x)") } }
            assertEquals(listOf(listOf(JsonPrimitive(2))), client.sql(ro, "SELECT 1 + ? AS two", listOf(JsonPrimitive(1))).rows)
            assertThrows<DurableObjectException.NotFound> { sync { client.sql("kt-nosql-$runId", "SELECT 1") } }
            assertThrows<DurableObjectException.InvalidInput> { sync { client.sql(rw, "SELECT ?", listOf(JsonArray(emptyList()))) } }
        }
    }

    @Test
    fun `batched calls run in order with their own results`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val results = client.batch(
                "kt-batch-$runId",
                listOf(
                    BatchCall("increment", buildJsonObject { put("increment", 2) }),
                    BatchCall("no_such_method"),
                    BatchCall("increment", buildJsonObject { put("increment", 3) }, idempotencyKey = "kt-batch-key-$runId"),
                    BatchCall("get_value"),
                ),
            )
            assertEquals(4, results.size)
            assertEquals(buildJsonObject { put("value", 2) }, results[0].getOrThrow())
            assertTrue(results[1].exceptionOrNull() is DurableObjectException.NotFound, results[1].toString())
            assertEquals(buildJsonObject { put("value", 5) }, results[3].getOrThrow())
            assertThrows<DurableObjectException.InvalidInput> { sync { client.batch("kt-batch-$runId", emptyList()) } }
        }
    }

    @Test
    fun `the caller's trace context reaches the worker's log`(worker: LocalWorker) = runBlocking<Unit> {
        worker.client().use { client ->
            val traceId = "4bf92f3577b34da6a3ce929d0e0e" + runId.takeLast(4).padStart(4, '0').map { "0123456789abcdef"[it.code % 16] }.joinToString("")
            client.withTraceparent("00-$traceId-00f067aa0ba902b7-01").use { traced ->
                assertEquals(JsonPrimitive(1), traced.callMethod("kt-trace-$runId", "echo", JsonPrimitive(1)))
            }
            eventually(10.seconds, "trace id $traceId in the worker log") {
                Files.exists(worker.logFile) && Files.readString(worker.logFile).contains(traceId)
            }
            // The original client still works after the traced one was closed.
            assertEquals(JsonPrimitive(2), client.callMethod("kt-trace-$runId", "echo", JsonPrimitive(2)))
            assertThrows<DurableObjectException.InvalidInput> { client.withTraceparent("garbage") }
        }
    }
}
