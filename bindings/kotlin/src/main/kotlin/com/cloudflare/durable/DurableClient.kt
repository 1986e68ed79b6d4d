package com.cloudflare.durable

import com.sun.jna.CallbackThreadInitializer
import com.sun.jna.Native
import kotlin.time.Duration
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject

// The idiomatic Kotlin API. Everything here only converts types and hands work
// to the generated uniffi layer (src/generated/kotlin), which calls the Rust
// core: no protocol logic lives in Kotlin.

/**
 * Keeps the core's tokio threads attached to the JVM between callbacks. Every uniffi async call
 * completes through [uniffiRustFutureContinuationCallbackImpl], invoked from a tokio worker
 * thread; by default JNA attaches that native thread to the JVM for the callback and detaches it
 * afterwards, creating a new `java.lang.Thread` each time, which cost more CPU than the whole
 * call. Attached once (as daemon threads, so they never keep the JVM alive), they are detached by
 * JNA when they end. Runs once, before the first client exists.
 */
internal object NativeThreads {
    init {
        Native.setCallbackThreadInitializer(
            uniffiRustFutureContinuationCallbackImpl,
            CallbackThreadInitializer(true, false, "cloudflare-durable-tokio"),
        )
    }

    /** Forces [init] to have run. */
    fun ensure() = Unit
}

/** An empty JSON object, the default method parameters. */
val EmptyParams: JsonObject = JsonObject(emptyMap())

/**
 * Refuses a string that is not well-formed UTF-16 (a lone surrogate): it has no UTF-8 form, so
 * it cannot cross to the core. Thrown as [DurableObjectException.InvalidInput] naming [field],
 * before anything is sent.
 */
internal fun String.checked(field: String): String {
    var i = 0
    while (i < length) {
        val c = this[i]
        if (Character.isHighSurrogate(c) && i + 1 < length && Character.isLowSurrogate(this[i + 1])) {
            i += 2
            continue
        }
        if (Character.isSurrogate(c)) {
            throw DurableObjectException.InvalidInput(field, "invalid $field: lone UTF-16 surrogate at index $i")
        }
        i++
    }
    return this
}

private fun String?.checkedOrNull(field: String): String? = this?.checked(field)

private fun JsonElement.text(field: String): String = toString().checked(field)

private fun parse(text: String): JsonElement = Json.parseToJsonElement(text)

private fun Duration?.millis(): ULong? = this?.inWholeMilliseconds?.coerceAtLeast(0)?.toULong()

private fun ObjectRef.checked(): ObjectRef = ObjectRef(
    name = name.checkedOrNull("object_name"),
    id = id.checkedOrNull("object_name"),
    namespace = namespace.checkedOrNull("object_name"),
    jurisdiction = jurisdiction.checkedOrNull("object_name"),
    locationHint = locationHint.checkedOrNull("object_name"),
)

/** The object called [name] (in the client's default namespace unless [namespace] is given). */
fun ObjectRef.Companion.named(name: String, namespace: String? = null): ObjectRef =
    ObjectRef(name = name, namespace = namespace)

/** The object with this 64-hex-digit [id] (from `newUniqueId` or `namespaceObjectId`). */
fun ObjectRef.Companion.ofId(id: String, namespace: String? = null): ObjectRef = ObjectRef(id = id, namespace = namespace)

/** This object in [namespace]. */
fun ObjectRef.inNamespace(namespace: String): ObjectRef = copy(namespace = namespace)

/** This object restricted to [jurisdiction] (`eu`, `fedramp`). */
fun ObjectRef.inJurisdiction(jurisdiction: String): ObjectRef = copy(jurisdiction = jurisdiction)

/** This object with a placement hint (`wnam`, `weur`, …). */
fun ObjectRef.withLocationHint(hint: String): ObjectRef = copy(locationHint = hint)

private fun ref(name: String): ObjectRef = ObjectRef(name = name)

/** One stored entry of a listing. */
data class StorageEntry(val key: String, val value: JsonElement)

/** One page of a listing; pass [cursor] back to [DurableClient.listPage] for the next. */
data class ListPage(val entries: List<StorageEntry>, val cursor: String?)

/** One operation of [DurableClient.transaction]. */
sealed class TxOp {
    /** Reads [key]; its result is `{"value": v}` or `{"value": null, "absent": true}`. */
    data class Get(val key: String) : TxOp()

    /** Writes [key]. */
    data class Put(val key: String, val value: JsonElement) : TxOp()

    /** Deletes [key]; its result is `{"deleted": bool}`. */
    data class Delete(val key: String) : TxOp()

    /** Aborts the whole transaction with `Conflict` unless [key] holds [value]. */
    data class CheckEquals(val key: String, val value: JsonElement) : TxOp()

    /** Aborts the whole transaction with `Conflict` if [key] exists. */
    data class CheckAbsent(val key: String) : TxOp()

    internal fun ffi(): FfiTxOp = when (this) {
        is Get -> FfiTxOp.Get(key.checked("key"))
        is Put -> FfiTxOp.Put(key.checked("key"), value.text("value"))
        is Delete -> FfiTxOp.Delete(key.checked("key"))
        is CheckEquals -> FfiTxOp.CheckEquals(key.checked("key"), value.text("value"))
        is CheckAbsent -> FfiTxOp.CheckAbsent(key.checked("key"))
    }
}

/** The condition of [DurableClient.updateStateIf]. */
sealed class Condition {
    /** Write only if the current value equals [value]. */
    data class Equals(val value: JsonElement) : Condition()

    /** Write only if the key does not exist. */
    data object Absent : Condition()

    internal fun ffi(): FfiCondition = when (this) {
        is Equals -> FfiCondition.Equals(value.text("value"))
        Absent -> FfiCondition.Absent
    }
}

/** One call of [DurableClient.batch]. */
data class BatchCall(val method: String, val params: JsonElement = EmptyParams, val idempotencyKey: String? = null)

/** The outcome of one SQL statement: [rows] hold one value per column of [columns]. */
data class SqlResult(val columns: List<String>, val rows: List<List<JsonElement>>, val rowsRead: Long, val rowsWritten: Long)

/**
 * A client for one worker. All operations are `suspend` functions that never
 * block the calling thread; failures are [DurableObjectException]s. Every
 * operation takes an [ObjectRef] (namespace, name or id, placement hints) or
 * just an object name.
 *
 * [close] closes every socket opened through this client and frees the native
 * client; an unclosed client is freed when garbage-collected.
 */
class DurableClient private constructor(private val ffi: FfiClient, private val owner: Boolean) : AutoCloseable {
    init {
        NativeThreads.ensure()
    }

    /** A client with [options]; `InvalidInput` (field `config`) for a bad setting. */
    constructor(options: ClientOptions) : this(FfiClient(options), true)

    /** A client for [workerUrl], with an optional bearer [apiToken] and core defaults otherwise. */
    constructor(workerUrl: String, apiToken: String? = null) :
        this(ClientOptions(workerUrl = workerUrl, apiToken = apiToken))

    /**
     * A client sharing this one's connections, sockets and events whose requests carry the
     * caller's W3C [traceparent] (`00-<trace id>-<span id>-<flags>`). Closing it only frees its
     * handle; the sockets belong to the original client.
     */
    fun withTraceparent(traceparent: String): DurableClient =
        DurableClient(ffi.withTraceparent(traceparent.checked("params")), false)

    /** Stores [state] in the object, one storage key per member, and broadcasts each key. */
    suspend fun initialize(objectRef: ObjectRef, state: JsonObject) {
        ffi.initialize(objectRef.checked(), state.text("value"))
    }

    /** [initialize] for the object called [objectName]. */
    suspend fun initialize(objectName: String, state: JsonObject) = initialize(ref(objectName), state)

    /**
     * Calls [method] on the object with [params] and returns its result. Every call carries an
     * idempotency key (generated unless [idempotencyKey] is given), so retries run it once.
     */
    suspend fun callMethod(
        objectRef: ObjectRef,
        method: String,
        params: JsonElement = EmptyParams,
        idempotencyKey: String? = null,
        timeout: Duration? = null,
    ): JsonElement = parse(
        ffi.callMethod(
            FfiMethodCall(
                objectRef.checked(), method.checked("method_name"), params.text("params"),
                idempotencyKey.checkedOrNull("params"), timeout.millis(),
            ),
        ),
    )

    /** [callMethod] on the object called [objectName]. */
    suspend fun callMethod(
        objectName: String,
        method: String,
        params: JsonElement = EmptyParams,
        idempotencyKey: String? = null,
        timeout: Duration? = null,
    ): JsonElement = callMethod(ref(objectName), method, params, idempotencyKey, timeout)

    /**
     * Runs [calls] in order in one round trip. Each gets its own [Result]: the method's result, or
     * the [DurableObjectException] it failed with; one failure does not stop the next. The request
     * as a whole throws only when it could not be made (bad input, network, …).
     */
    suspend fun batch(objectRef: ObjectRef, calls: List<BatchCall>): List<Result<JsonElement>> {
        val ffiCalls = calls.map {
            FfiBatchCall(it.method.checked("method_name"), it.params.text("params"), it.idempotencyKey.checkedOrNull("params"))
        }
        return ffi.batch(objectRef.checked(), ffiCalls).map {
            when (it) {
                is FfiBatchOutcome.Success -> Result.success(parse(it.resultJson))
                is FfiBatchOutcome.Failure -> Result.failure(it.error)
            }
        }
    }

    /** [batch] on the object called [objectName]. */
    suspend fun batch(objectName: String, calls: List<BatchCall>): List<Result<JsonElement>> = batch(ref(objectName), calls)

    /** The object's whole state. */
    suspend fun getState(objectRef: ObjectRef): JsonObject = parse(ffi.getState(objectRef.checked())) as JsonObject

    /** [getState] of the object called [objectName]. */
    suspend fun getState(objectName: String): JsonObject = getState(ref(objectName))

    /** One key of the object's state; [DurableObjectException.NotFound] when absent. */
    suspend fun getStateKey(objectRef: ObjectRef, key: String): JsonElement =
        parse(ffi.getStateKey(objectRef.checked(), key.checked("key")))

    /** [getStateKey] of the object called [objectName]. */
    suspend fun getStateKey(objectName: String, key: String): JsonElement = getStateKey(ref(objectName), key)

    /** Sets one key of the object's state and broadcasts it. */
    suspend fun updateState(objectRef: ObjectRef, key: String, value: JsonElement) {
        ffi.updateState(objectRef.checked(), key.checked("key"), value.text("value"))
    }

    /** [updateState] of the object called [objectName]. */
    suspend fun updateState(objectName: String, key: String, value: JsonElement) = updateState(ref(objectName), key, value)

    /** Sets one key only if [condition] holds; a lost race is [DurableObjectException.Conflict]. */
    suspend fun updateStateIf(objectRef: ObjectRef, key: String, value: JsonElement, condition: Condition) {
        ffi.updateStateIf(objectRef.checked(), key.checked("key"), value.text("value"), condition.ffi())
    }

    /** [updateStateIf] of the object called [objectName]. */
    suspend fun updateStateIf(objectName: String, key: String, value: JsonElement, condition: Condition) =
        updateStateIf(ref(objectName), key, value, condition)

    /** Deletes one key of the object's state (no error when absent) and broadcasts it. */
    suspend fun deleteState(objectRef: ObjectRef, key: String) {
        ffi.deleteState(objectRef.checked(), key.checked("key"))
    }

    /** [deleteState] of the object called [objectName]. */
    suspend fun deleteState(objectName: String, key: String) = deleteState(ref(objectName), key)

    /** Reads up to 128 keys at once; absent keys are left out. */
    suspend fun getMany(objectRef: ObjectRef, keys: Collection<String>): JsonObject =
        parse(ffi.getMany(objectRef.checked(), keys.map { it.checked("key") })) as JsonObject

    /** [getMany] of the object called [objectName]. */
    suspend fun getMany(objectName: String, keys: Collection<String>): JsonObject = getMany(ref(objectName), keys)

    /** Writes up to 128 entries atomically; one broadcast per key. */
    suspend fun putMany(objectRef: ObjectRef, entries: Map<String, JsonElement>) {
        val obj = entries as? JsonObject ?: JsonObject(entries)
        ffi.putMany(objectRef.checked(), obj.text("value"))
    }

    /** [putMany] on the object called [objectName]. */
    suspend fun putMany(objectName: String, entries: Map<String, JsonElement>) = putMany(ref(objectName), entries)

    /** Deletes up to 128 keys; returns how many existed. */
    suspend fun deleteMany(objectRef: ObjectRef, keys: Collection<String>): Long =
        ffi.deleteMany(objectRef.checked(), keys.map { it.checked("key") }).toLong()

    /** [deleteMany] on the object called [objectName]. */
    suspend fun deleteMany(objectName: String, keys: Collection<String>): Long = deleteMany(ref(objectName), keys)

    /** Deletes every key of the object's storage; returns how many there were. */
    suspend fun deleteAll(objectRef: ObjectRef): Long = ffi.deleteAll(objectRef.checked()).toLong()

    /** [deleteAll] on the object called [objectName]. */
    suspend fun deleteAll(objectName: String): Long = deleteAll(ref(objectName))

    /** One page of the object's keys; pass the returned cursor back (same [options]) for the next. */
    suspend fun listPage(objectRef: ObjectRef, options: ListOptions = ListOptions(), cursor: String? = null): ListPage {
        val page = ffi.listPage(objectRef.checked(), options.checked(), cursor.checkedOrNull("params"))
        return ListPage(page.entries.map { StorageEntry(it.key, parse(it.valueJson)) }, page.cursor)
    }

    /** [listPage] of the object called [objectName]. */
    suspend fun listPage(objectName: String, options: ListOptions = ListOptions(), cursor: String? = null): ListPage =
        listPage(ref(objectName), options, cursor)

    /**
     * Every entry of the object's storage matching [options], as a cold [Flow] that fetches one
     * page ([ListOptions.limit] entries) at a time as it is collected: memory stays bounded by a
     * page, and stopping the collection fetches nothing more.
     */
    fun list(objectRef: ObjectRef, options: ListOptions = ListOptions()): Flow<StorageEntry> = flow {
        ffi.list(objectRef.checked(), options.checked()).use { lister ->
            while (true) {
                val page = lister.nextPage() ?: break
                for (entry in page) emit(StorageEntry(entry.key, parse(entry.valueJson)))
            }
        }
    }

    /** [list] of the object called [objectName]. */
    fun list(objectName: String, options: ListOptions = ListOptions()): Flow<StorageEntry> = list(ref(objectName), options)

    /**
     * Applies [ops] atomically, in order, and returns one result per op. A failed check aborts
     * everything with [DurableObjectException.Conflict].
     */
    suspend fun transaction(objectRef: ObjectRef, ops: List<TxOp>): List<JsonElement> =
        ffi.transaction(objectRef.checked(), ops.map { it.ffi() }).map(::parse)

    /** [transaction] on the object called [objectName]. */
    suspend fun transaction(objectName: String, ops: List<TxOp>): List<JsonElement> = transaction(ref(objectName), ops)

    /** The alarm's time in milliseconds since the Unix epoch, or null when none is set. */
    suspend fun getAlarm(objectRef: ObjectRef): Long? = ffi.getAlarm(objectRef.checked())?.toLong()

    /** [getAlarm] of the object called [objectName]. */
    suspend fun getAlarm(objectName: String): Long? = getAlarm(ref(objectName))

    /** Sets the alarm to [timeMs] (ms since the Unix epoch); its sockets get `{"type":"alarm"}` when it fires. */
    suspend fun setAlarm(objectRef: ObjectRef, timeMs: Long) {
        if (timeMs < 0) throw DurableObjectException.InvalidInput("params", "invalid params: alarm time is negative")
        ffi.setAlarm(objectRef.checked(), timeMs.toULong())
    }

    /** [setAlarm] on the object called [objectName]. */
    suspend fun setAlarm(objectName: String, timeMs: Long) = setAlarm(ref(objectName), timeMs)

    /** Deletes the alarm (no error when none was set). */
    suspend fun deleteAlarm(objectRef: ObjectRef) {
        ffi.deleteAlarm(objectRef.checked())
    }

    /** [deleteAlarm] on the object called [objectName]. */
    suspend fun deleteAlarm(objectName: String) = deleteAlarm(ref(objectName))

    /** Runs one SQL statement with scalar [params] bound to its `?` placeholders. */
    suspend fun sql(objectRef: ObjectRef, query: String, params: List<JsonElement> = emptyList()): SqlResult {
        val r = ffi.sql(objectRef.checked(), query.checked("params"), JsonArray(params).text("params"))
        val rows = (parse(r.rowsJson) as JsonArray).map { (it as JsonArray).toList() }
        return SqlResult(r.columns, rows, r.rowsRead.toLong(), r.rowsWritten.toLong())
    }

    /** [sql] on the object called [objectName]. */
    suspend fun sql(objectName: String, query: String, params: List<JsonElement> = emptyList()): SqlResult =
        sql(ref(objectName), query, params)

    /** A new unique object id in [namespace] (the client's default when null), optionally in a [jurisdiction]. */
    suspend fun newUniqueId(namespace: String? = null, jurisdiction: String? = null): String =
        ffi.newUniqueId(namespace.checkedOrNull("object_name"), jurisdiction.checkedOrNull("object_name"))

    /** The id the object called [name] has in [namespace] (the client's default when null). */
    suspend fun namespaceObjectId(name: String, namespace: String? = null): String =
        ffi.namespaceObjectId(namespace.checkedOrNull("object_name"), name.checked("object_name"))

    /** One page (from 1, [perPage] 5 to 1000) of the account's namespaces (Cloudflare's API; needs accountId and apiToken). */
    suspend fun listNamespaces(page: Int = 1, perPage: Int = 20): NamespacePage =
        ffi.listNamespaces(page.coerceAtLeast(0).toUInt(), perPage.coerceAtLeast(0).toUInt())

    /** One page (at most [limit], 10 to 10000) of a namespace's objects (Cloudflare's API). */
    suspend fun listObjects(namespaceId: String, cursor: String? = null, limit: Int = 1000): ObjectPage =
        ffi.listObjects(namespaceId.checked("params"), cursor.checkedOrNull("params"), limit.coerceAtLeast(0).toUInt())

    /** Opens a WebSocket to the object; returns once the first connection is up. */
    suspend fun websocket(objectRef: ObjectRef): DurableWebSocket = DurableWebSocket(ffi.websocket(objectRef.checked()))

    /** [websocket] to the object called [objectName]. */
    suspend fun websocket(objectName: String): DurableWebSocket = websocket(ref(objectName))

    /**
     * The client's lifecycle events (requests, socket connections, errors) from the first
     * collection on, as a [Flow] pulling batches of at most [batchSize] from a bounded native
     * queue (1,024; a collector that falls behind loses the newest, counted in [eventsDropped]).
     * No callback runs on a native thread. Completes when the client is closed. Collect from one
     * coroutine at a time.
     */
    fun events(batchSize: Int = 64): Flow<ClientEvent> = flow {
        val max = batchSize.coerceIn(1, 1024).toUInt()
        while (true) {
            val batch = try {
                ffi.nextEvents(max)
            } catch (_: IllegalStateException) {
                break // the client was closed (and freed) between two pulls
            }
            if (batch.isEmpty()) break
            for (event in batch) emit(event)
        }
    }

    /** Events dropped because no one collected [events] fast enough. */
    val eventsDropped: Long get() = ffi.eventsDropped().toLong()

    /** Closes the sockets this client opened, ends [events], and frees the native client. Idempotent. */
    override fun close() {
        if (owner) {
            try {
                ffi.shutdown()
            } catch (_: IllegalStateException) {
                // Already freed.
            }
        }
        ffi.close()
    }
}

private fun ListOptions.checked(): ListOptions = copy(
    prefix = prefix.checkedOrNull("key"),
    start = start.checkedOrNull("key"),
    end = end.checkedOrNull("key"),
)

/**
 * A live WebSocket to one object. It reconnects by itself (resuming after the
 * last message seen); [messages] is a [Flow] of what the object sends.
 *
 * [close] (or garbage collection) closes the connection and frees the native side.
 */
class DurableWebSocket internal constructor(private val ffi: FfiWebSocket) : AutoCloseable {
    /** The object this socket talks to (its label: the name, `id:<hex>`, `namespace/…`). */
    val objectName: String get() = ffi.`object`()

    /** The current status. */
    val status: ConnectionStatus get() = ffi.status()

    /** Waits until the status is [target], at most [timeout]; true when reached. */
    suspend fun awaitStatus(target: ConnectionStatus, timeout: Duration): Boolean =
        ffi.waitForStatus(target, timeout.millis() ?: 0u)

    /** Sends a JSON message; returns once written, or queued while reconnecting. */
    suspend fun send(message: JsonElement) {
        ffi.send(message.text("value"))
    }

    /** Calls [method] over the socket and returns its result (resent after a reconnect, run once). */
    suspend fun call(
        method: String,
        params: JsonElement = EmptyParams,
        idempotencyKey: String? = null,
        timeout: Duration? = null,
    ): JsonElement = parse(
        ffi.call(FfiSocketCall(method.checked("method_name"), params.text("params"), idempotencyKey.checkedOrNull("params"), timeout.millis())),
    )

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

    /**
     * Closes (code 1000) and waits for the connection to end; pending calls fail. Cancelling the
     * caller ends only the wait: the close goes on.
     */
    suspend fun closeGracefully() {
        ffi.shutdown() // started here, so a wait cancelled before it begins still closes
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

/**
 * How long the worker asked to wait, for [DurableObjectException.RateLimited];
 * [Duration.INFINITE] when that is longer than a `Long` of milliseconds holds.
 */
val DurableObjectException.RateLimited.retryAfter: Duration?
    get() = retryAfterMs?.let {
        if (it > Long.MAX_VALUE.toULong()) Duration.INFINITE else with(Duration) { it.toLong().milliseconds }
    }
