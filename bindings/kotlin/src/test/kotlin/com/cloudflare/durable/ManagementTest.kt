package com.cloudflare.durable

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows

/**
 * The management API (`listNamespaces`, `listObjects`) against `tests/harness/cloudflare_api_mock.py`,
 * a LOOPBACK STAND-IN for Cloudflare's v4 API: these machines cannot reach api.cloudflare.com, so
 * the stand-in answers with the documented response shapes. Not verified against the real API.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ManagementTest {
    private val api = HarnessServer("cloudflare_api_mock.py", "--token", "cf-token")

    @AfterAll
    fun stop() = api.close()

    private fun client(token: String?, account: String? = "acc123") = DurableClient(
        ClientOptions(workerUrl = "http://127.0.0.1:9", apiBaseUrl = api.url, accountId = account, apiToken = token, retryCount = 0u),
    )

    @Test
    fun `lists namespaces page by page`() = runBlocking<Unit> {
        client("cf-token").use { client ->
            val all = mutableListOf<NamespaceInfo>()
            var page = 1
            while (true) {
                val p = client.listNamespaces(page, 5)
                assertEquals(7uL, p.totalCount)
                all += p.namespaces
                if (!p.hasMore) break
                page++
            }
            assertEquals(2, page)
            assertEquals(7, all.size)
            assertEquals("ns-1", all[1].id)
            assertEquals("Class1", all[1].className)
            assertEquals(true, all[0].useSqlite)
        }
    }

    @Test
    fun `lists objects with a cursor`() = runBlocking<Unit> {
        client("cf-token").use { client ->
            val objects = mutableListOf<ObjectInfo>()
            var cursor: String? = null
            var pages = 0
            do {
                val page = client.listObjects("ns-1", cursor, 10)
                pages++
                objects += page.objects
                cursor = page.cursor
            } while (cursor != null)
            assertEquals(3, pages)
            assertEquals(25, objects.size)
            assertEquals("%064x".format(3), objects[3].id)
            assertFalse(objects[3].hasStoredData)
            assertTrue(objects[4].hasStoredData)
            assertThrows<DurableObjectException.NotFound> { runBlocking { client.listObjects("ns-9", null, 10) } }
        }
    }

    @Test
    fun `a wrong token or a missing account is a clear error`() = runBlocking<Unit> {
        client("wrong").use { client ->
            val e = assertThrows<DurableObjectException.Unauthorized> { runBlocking { client.listNamespaces() } }
            assertTrue(e.reason.contains("Authentication error"), e.reason)
            assertFalse(e.reason.contains("wrong"), "the token leaked: ${e.reason}")
        }
        client("cf-token", account = null).use { client ->
            val e = assertThrows<DurableObjectException.InvalidInput> { runBlocking { client.listNamespaces() } }
            assertEquals("config", e.field)
        }
        client(null).use { client ->
            assertThrows<DurableObjectException.InvalidInput> { runBlocking { client.listObjects("ns-1") } }
        }
        client("cf-token").use { client ->
            assertThrows<DurableObjectException.InvalidInput> { runBlocking { client.listNamespaces(0, 5) } }
            assertThrows<DurableObjectException.InvalidInput> { runBlocking { client.listObjects("../x", null, 10) } }
        }
    }
}
