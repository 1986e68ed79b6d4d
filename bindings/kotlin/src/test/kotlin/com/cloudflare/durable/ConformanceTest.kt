package com.cloudflare.durable

import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.TestFactory
import org.junit.jupiter.api.extension.ExtendWith

/**
 * The shared scenarios of tests/conformance/scenarios.json, run through the
 * FFI layer (JSON text in and out, as every host sees it).
 */
@ExtendWith(SharedWorker::class)
class ConformanceTest {
    private val scenarios: JsonObject = Json.parseToJsonElement(
        repoRoot.resolve("tests/conformance/scenarios.json").toFile().readText(),
    ).jsonObject

    private fun JsonElement.withRun(): JsonElement =
        if (this is JsonPrimitive && isString) JsonPrimitive(content.replace("{run}", "kt$runId")) else this

    private suspend fun run(ffi: FfiClient, step: JsonObject): JsonElement {
        fun arg(name: String) = step.getValue(name)
        fun str(name: String) = arg(name).withRun().jsonPrimitive.content
        return when (val op = step.getValue("op").jsonPrimitive.content) {
            "initialize" -> JsonNull.also { ffi.initialize(ObjectRef(name = str("object")), arg("state").toString()) }
            "call_method" -> Json.parseToJsonElement(ffi.callMethod(FfiMethodCall(ObjectRef(name = str("object")), str("method"), arg("params").toString())))
            "get_state" -> Json.parseToJsonElement(ffi.getState(ObjectRef(name = str("object"))))
            "get_state_key" -> Json.parseToJsonElement(ffi.getStateKey(ObjectRef(name = str("object")), str("key")))
            "update_state" -> JsonNull.also { ffi.updateState(ObjectRef(name = str("object")), str("key"), arg("value").toString()) }
            "delete_state" -> JsonNull.also { ffi.deleteState(ObjectRef(name = str("object")), str("key")) }
            else -> fail("unknown op $op")
        }
    }

    @TestFactory
    fun scenarios(worker: LocalWorker): List<DynamicTest> {
        val list = scenarios.getValue("scenarios").jsonArray
        assertTrue(list.isNotEmpty())
        return list.map { it.jsonObject }.map { scenario ->
            DynamicTest.dynamicTest(scenario.getValue("name").jsonPrimitive.content) {
                FfiClient(worker.options()).use { ffi ->
                    runBlocking {
                        for ((index, element) in scenario.getValue("steps").jsonArray.withIndex()) {
                            val step = element.jsonObject
                            val expect = step.getValue("expect").jsonObject
                            val where = "step $index ($step)"
                            val outcome = runCatching { run(ffi, step) }
                            val error = outcome.exceptionOrNull()
                            when {
                                "error" in expect -> {
                                    assertTrue(error is DurableObjectException, "$where: expected an error, got $outcome")
                                    assertEquals(expect.getValue("error").jsonPrimitive.content, (error as DurableObjectException).kindName, where)
                                }
                                error != null -> fail("$where failed", error)
                                "ok" in expect -> assertTrue(jsonEquals(expect.getValue("ok"), outcome.getOrThrow()), "$where: got ${outcome.getOrThrow()}")
                                "ok_subset" in expect -> assertTrue(jsonSubset(expect.getValue("ok_subset").jsonObject, outcome.getOrThrow()), "$where: got ${outcome.getOrThrow()}")
                                else -> fail("$where: unknown expectation")
                            }
                        }
                    }
                }
            }
        }
    }
}
