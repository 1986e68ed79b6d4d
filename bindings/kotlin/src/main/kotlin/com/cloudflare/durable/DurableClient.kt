package com.cloudflare.durable

import kotlin.time.Duration
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject

// The idiomatic Kotlin API. Everything here only converts types and hands work
// to the generated uniffi layer (src/generated/kotlin), which calls the Rust
// core: no protocol logic lives in Kotlin.

/** An empty JSON object, the default method parameters. */
val EmptyParams: JsonObject = JsonObject(emptyMap())

private fun JsonElement.text(): String = toString()

private fun parse(text: String): JsonElement = Json.parseToJsonElement(text)

private fun Duration?.millis(): ULong? = this?.inWholeMilliseconds?.coerceAtLeast(0)?.toULong()

/**
 * A client for one worker. All operations are `suspend` functions that never
 * block the calling thread; failures are [DurableObjectException]s.
 *
 * [close] closes every socket opened through this client and frees the native
 * client; an unclosed client is freed when garbage-collected.
 */
class DurableClient(options: ClientOptions) : AutoCloseable {
    /** A client for [workerUrl], with an optional bearer [apiToken] and core defaults otherwise. */
    constructor(workerUrl: String, apiToken: String? = null) :
        this(ClientOptions(workerUrl = workerUrl, apiToken = apiToken))

    private val ffi = FfiClient(options)

    /** Stores [state] in the object, one storage key per member, and broadcasts each key. */
    suspend fun initialize(objectName: String, state: JsonObject) {
        ffi.initialize(objectName, state.text())
    }

    /**
     * Calls [method] on the object with [params] and returns its result. Every call carries an
     * idempotency key (generated unless [idempotencyKey] is given), so retries run it once.
     */
    suspend fun callMethod(
        objectName: String,
        method: String,
        params: JsonElement = EmptyParams,
        idempotencyKey: String? = null,
        timeout: Duration? = null,
    ): JsonElement = parse(ffi.callMethod(objectName, method, params.text(), idempotencyKey, timeout.millis()))

    /** The object's whole state. */
    suspend fun getState(objectName: String): JsonObject = parse(ffi.getState(objectName)) as JsonObject

    /** One key of the object's state; [DurableObjectException.NotFound] when absent. */
    suspend fun getStateKey(objectName: String, key: String): JsonElement = parse(ffi.getStateKey(objectName, key))

    /** Sets one key of the object's state and broadcasts it. */
    suspend fun updateState(objectName: String, key: String, value: JsonElement) {
        ffi.updateState(objectName, key, value.text())
    }

    /** Deletes one key of the object's state (no error when absent) and broadcasts it. */
    suspend fun deleteState(objectName: String, key: String) {
        ffi.deleteState(objectName, key)
    }

    /** Opens a WebSocket to the object; returns once the first connection is up. */
    suspend fun websocket(objectName: String): DurableWebSocket = DurableWebSocket(ffi.websocket(objectName))

    /** Closes the sockets this client opened and frees the native client. Idempotent. */
    override fun close() {
        try {
            ffi.shutdown()
        } catch (_: IllegalStateException) {
            // Already freed.
        }
        ffi.close()
    }
}

/**
 * A live WebSocket to one object. It reconnects by itself (resuming after the
 * last message seen); [messages] is a [Flow] of what the object sends.
 *
 * [close] (or garbage collection) closes the connection and frees the native side.
 */
class DurableWebSocket internal constructor(private val ffi: FfiWebSocket) : AutoCloseable {
    /** The object this socket talks to. */
    val objectName: String get() = ffi.`object`()

    /** The current status. */
    val status: ConnectionStatus get() = ffi.status()

    /** Waits until the status is [target], at most [timeout]; true when reached. */
    suspend fun awaitStatus(target: ConnectionStatus, timeout: Duration): Boolean =
        ffi.waitForStatus(target, timeout.millis() ?: 0u)

    /** Sends a JSON message; returns once written, or queued while reconnecting. */
    suspend fun send(message: JsonElement) {
        ffi.send(message.text())
    }

    /** Calls [method] over the socket and returns its result (resent after a reconnect, run once). */
    suspend fun call(
        method: String,
        params: JsonElement = EmptyParams,
        idempotencyKey: String? = null,
        timeout: Duration? = null,
    ): JsonElement = parse(ffi.call(method, params.text(), idempotencyKey, timeout.millis()))

    /**
     * The messages from the object, in order, as a cold [Flow] pulling from the native buffer in
     * batches of at most [batchSize]. The flow completes when the socket is closed, and fails with
     * the [DurableObjectException] that ended it (for example `ConnectionClosed` after a refusal).
     * A slow collector applies backpressure (the core buffers, then stops reading): nothing is
     * dropped. Collect it from one coroutine at a time; cancelling a collection loses no message.
     */
    fun messages(batchSize: Int = 64): Flow<JsonElement> = flow {
        val max = batchSize.coerceIn(1, 4096).toUInt()
        while (true) {
            val batch = ffi.nextBatch(max)
            if (batch.isEmpty()) break
            for (text in batch) emit(parse(text))
        }
    }

    /** Like [messages], but each message as its JSON text (no parsing on the Kotlin side). */
    fun rawMessages(batchSize: Int = 64): Flow<String> = flow {
        val max = batchSize.coerceIn(1, 4096).toUInt()
        while (true) {
            val batch = ffi.nextBatch(max)
            if (batch.isEmpty()) break
            for (text in batch) emit(text)
        }
    }

    /** Closes (code 1000) and waits for the connection to end; pending calls fail. */
    suspend fun closeGracefully() {
        ffi.closeAndWait()
    }

    /** Starts closing (code 1000) without waiting and frees the native socket. Idempotent. */
    override fun close() {
        try {
            ffi.shutdown()
        } catch (_: IllegalStateException) {
            // Already freed.
        }
        ffi.close()
    }
}

/** The core's stable kind name of this error (`not_found`, `rate_limited`, …). */
val DurableObjectException.kindName: String get() = kind()

/** The error's message as the core words it (without uniffi's `field=` prefixes). */
val DurableObjectException.reason: String get() = describe()

/** The HTTP status (or close code) behind this error, when there is one. */
val DurableObjectException.statusCode: Int?
    get() = when (this) {
        is DurableObjectException.Unauthorized -> status.toInt()
        is DurableObjectException.NotFound -> 404
        is DurableObjectException.RateLimited -> 429
        is DurableObjectException.ServerException -> status.toInt()
        is DurableObjectException.HttpException -> status.toInt()
        is DurableObjectException.ConnectionClosed -> code?.toInt()
        is DurableObjectException.Conflict -> 409
        else -> null
    }

/** How long the worker asked to wait, for [DurableObjectException.RateLimited]. */
val DurableObjectException.RateLimited.retryAfter: Duration?
    get() = retryAfterMs?.let { with(Duration) { it.toLong().milliseconds } }
