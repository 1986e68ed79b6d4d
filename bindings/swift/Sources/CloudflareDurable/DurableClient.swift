import Foundation

// The idiomatic Swift API, the mirror of Kotlin's DurableClient.kt. Everything
// here only converts types and hands work to the generated uniffi layer
// (Generated/CloudflareDurable.swift), which calls the Rust core.

/// Seconds as whole milliseconds, saturating like Kotlin's `Duration`: NaN and negatives are 0,
/// anything from 2^64 ms up (infinity included) is `UInt64.max`.
private func milliseconds(_ seconds: TimeInterval?) -> UInt64? {
    seconds.map { seconds in
        let ms = (seconds * 1000).rounded()
        guard ms > 0 else { return 0 }
        return ms < 18_446_744_073_709_551_616.0 ? UInt64(ms) : UInt64.max
    }
}

/// Builders for `ObjectRef` (the mirror of Kotlin's `ObjectRef.named`, `ofId`, …).
extension ObjectRef {
    /// The object called `name` (in the client's default namespace unless `namespace` is given).
    public static func named(_ name: String, namespace: String? = nil) -> ObjectRef {
        ObjectRef(name: name, namespace: namespace)
    }

    /// The object with this 64-hex-digit `id` (from `newUniqueId` or `namespaceObjectId`).
    public static func ofId(_ id: String, namespace: String? = nil) -> ObjectRef {
        ObjectRef(id: id, namespace: namespace)
    }

    /// This object in `namespace`.
    public func inNamespace(_ namespace: String) -> ObjectRef {
        var copy = self
        copy.namespace = namespace
        return copy
    }

    /// This object restricted to `jurisdiction` (`eu`, `fedramp`).
    public func inJurisdiction(_ jurisdiction: String) -> ObjectRef {
        var copy = self
        copy.jurisdiction = jurisdiction
        return copy
    }

    /// This object with a placement hint (`wnam`, `weur`, …).
    public func withLocationHint(_ hint: String) -> ObjectRef {
        var copy = self
        copy.locationHint = hint
        return copy
    }
}

/// One stored entry of a listing.
public struct StorageEntry: Hashable, Sendable {
    /// The key.
    public let key: String
    /// Its value.
    public let value: JSONValue
}

/// One page of a listing; pass `cursor` back to `listPage` for the next.
public struct ListPage: Hashable, Sendable {
    /// The entries, in key order (reversed when asked).
    public let entries: [StorageEntry]
    /// The cursor of the next page; nil when the walk is done.
    public let cursor: String?
}

/// One operation of `DurableClient.transaction` (Kotlin's sealed class `TxOp`).
public enum TxOp: Hashable, Sendable {
    /// Reads `key`: `{"value": v}` or `{"value": null, "absent": true}`.
    case get(key: String)
    /// Writes `key`.
    case put(key: String, value: JSONValue)
    /// Deletes `key`: `{"deleted": bool}`.
    case delete(key: String)
    /// Aborts everything with `.Conflict` unless `key` holds `value`.
    case checkEquals(key: String, value: JSONValue)
    /// Aborts everything with `.Conflict` if `key` exists.
    case checkAbsent(key: String)

    var ffi: FfiTxOp {
        switch self {
        case .get(let key): return .get(key: key)
        case .put(let key, let value): return .put(key: key, valueJson: value.jsonText)
        case .delete(let key): return .delete(key: key)
        case .checkEquals(let key, let value): return .checkEquals(key: key, valueJson: value.jsonText)
        case .checkAbsent(let key): return .checkAbsent(key: key)
        }
    }
}

/// The condition of `DurableClient.updateStateIf`.
public enum Condition: Hashable, Sendable {
    /// Write only if the current value equals this one.
    case equals(JSONValue)
    /// Write only if the key does not exist.
    case absent

    var ffi: FfiCondition {
        switch self {
        case .equals(let value): return .equals(valueJson: value.jsonText)
        case .absent: return .absent
        }
    }
}

/// One call of `DurableClient.batch`.
public struct BatchCall: Hashable, Sendable {
    /// The method.
    public var method: String
    /// Its params.
    public var params: JSONValue
    /// Its idempotency key; one is generated when nil.
    public var idempotencyKey: String?

    /// A call of `method` with `params`.
    public init(_ method: String, params: JSONValue = [:], idempotencyKey: String? = nil) {
        self.method = method
        self.params = params
        self.idempotencyKey = idempotencyKey
    }
}

/// The outcome of one SQL statement: `rows` hold one value per column of `columns`.
public struct SqlResult: Hashable, Sendable {
    /// Column names, in order.
    public let columns: [String]
    /// The rows.
    public let rows: [[JSONValue]]
    /// Rows the statement read.
    public let rowsRead: UInt64
    /// Rows the statement wrote.
    public let rowsWritten: UInt64
}

/// A client for one worker. Every operation is `async` and never blocks the
/// calling thread; failures are `DurableObjectError`s. Every operation takes an
/// `ObjectRef` (namespace, name or id, placement hints) or just an object name.
///
/// `close()` closes every socket opened through this client and ends `events()`;
/// the native client is freed when the last reference goes away.
public final class DurableClient: @unchecked Sendable {
    private let ffi: FfiClient
    private let owner: Bool

    /// A client with the given options (`ClientOptions(workerUrl:…)`).
    public init(options: ClientOptions) throws {
        ffi = try FfiClient(options: options)
        owner = true
    }

    private init(ffi: FfiClient) {
        self.ffi = ffi
        owner = false
    }

    /// A client for `workerUrl`, with an optional bearer `apiToken` and core defaults otherwise.
    public convenience init(workerUrl: String, apiToken: String? = nil) throws {
        try self.init(options: ClientOptions(workerUrl: workerUrl, apiToken: apiToken))
    }

    /// A client sharing this one's connections, sockets and events whose requests carry the
    /// caller's W3C `traceparent`. Its `close()` does nothing: the sockets belong to this client.
    public func withTraceparent(_ traceparent: String) throws -> DurableClient {
        DurableClient(ffi: try ffi.withTraceparent(traceparent: traceparent))
    }

    /// Stores `state` in the object, one storage key per member, and broadcasts each key.
    public func initialize(_ object: ObjectRef, state: [String: JSONValue]) async throws {
        try await ffi.initialize(objectRef: object, stateJson: JSONValue.object(state).jsonText)
    }

    /// Calls `method` on the object with `params` and returns its result. Every call carries an
    /// idempotency key (generated unless given), so retries run it once.
    public func callMethod(
        _ object: ObjectRef,
        _ method: String,
        params: JSONValue = [:],
        idempotencyKey: String? = nil,
        timeout: TimeInterval? = nil
    ) async throws -> JSONValue {
        let text = try await ffi.callMethod(call: FfiMethodCall(
            objectRef: object, method: method, paramsJson: params.jsonText,
            idempotencyKey: idempotencyKey, timeoutMs: milliseconds(timeout)))
        return try JSONValue(jsonText: text)
    }

    /// Runs `calls` in order in one round trip; each gets its own `Result`, and one failure
    /// does not stop the next. Throws only when the request as a whole could not be made.
    public func batch(_ object: ObjectRef, _ calls: [BatchCall]) async throws -> [Result<JSONValue, DurableObjectError>] {
        let ffiCalls = calls.map {
            FfiBatchCall(method: $0.method, paramsJson: $0.params.jsonText, idempotencyKey: $0.idempotencyKey)
        }
        return try await ffi.batch(objectRef: object, calls: ffiCalls).map { outcome in
            switch outcome {
            case .success(let text):
                do { return .success(try JSONValue(jsonText: text)) } catch {
                    return .failure(.InvalidResponse(reason: "batch result is not JSON: \(error)"))
                }
            case .failure(let error): return .failure(error)
            }
        }
    }

    /// The object's whole state.
    public func getState(_ object: ObjectRef) async throws -> [String: JSONValue] {
        try jsonObject(try await ffi.getState(objectRef: object), what: "state")
    }

    /// One key of the object's state; `DurableObjectError.NotFound` when absent.
    public func getStateKey(_ object: ObjectRef, key: String) async throws -> JSONValue {
        try JSONValue(jsonText: try await ffi.getStateKey(objectRef: object, key: key))
    }

    /// Sets one key of the object's state and broadcasts it.
    public func updateState(_ object: ObjectRef, key: String, value: JSONValue) async throws {
        try await ffi.updateState(objectRef: object, key: key, valueJson: value.jsonText)
    }

    /// Sets one key only if `condition` holds; a lost race is `DurableObjectError.Conflict`.
    public func updateStateIf(_ object: ObjectRef, key: String, value: JSONValue, condition: Condition) async throws {
        try await ffi.updateStateIf(objectRef: object, key: key, valueJson: value.jsonText, condition: condition.ffi)
    }

    /// Deletes one key of the object's state (no error when absent) and broadcasts it.
    public func deleteState(_ object: ObjectRef, key: String) async throws {
        try await ffi.deleteState(objectRef: object, key: key)
    }

    /// Reads up to 128 keys at once; absent keys are left out.
    public func getMany(_ object: ObjectRef, keys: [String]) async throws -> [String: JSONValue] {
        try jsonObject(try await ffi.getMany(objectRef: object, keys: keys), what: "values")
    }

    /// Writes up to 128 entries atomically; one broadcast per key.
    public func putMany(_ object: ObjectRef, entries: [String: JSONValue]) async throws {
        try await ffi.putMany(objectRef: object, entriesJson: JSONValue.object(entries).jsonText)
    }

    /// Deletes up to 128 keys; returns how many existed.
    public func deleteMany(_ object: ObjectRef, keys: [String]) async throws -> UInt64 {
        try await ffi.deleteMany(objectRef: object, keys: keys)
    }

    /// Deletes every key of the object's storage; returns how many there were.
    public func deleteAll(_ object: ObjectRef) async throws -> UInt64 {
        try await ffi.deleteAll(objectRef: object)
    }

    /// One page of the object's keys; pass the returned cursor back (same options) for the next.
    public func listPage(_ object: ObjectRef, options: ListOptions = ListOptions(), cursor: String? = nil) async throws -> ListPage {
        let page = try await ffi.listPage(objectRef: object, options: options, cursor: cursor)
        return ListPage(entries: try page.entries.map(storageEntry), cursor: page.cursor)
    }

    /// Every entry matching `options`, as an `AsyncSequence` that fetches one page at a time as
    /// it is iterated (Kotlin's `list` Flow): memory stays bounded by a page.
    public func list(_ object: ObjectRef, options: ListOptions = ListOptions()) -> DurableList {
        DurableList(ffi: ffi, object: object, options: options)
    }

    /// Applies `ops` atomically, in order; one result per op. A failed check aborts everything
    /// with `DurableObjectError.Conflict`.
    public func transaction(_ object: ObjectRef, _ ops: [TxOp]) async throws -> [JSONValue] {
        try await ffi.transaction(objectRef: object, ops: ops.map(\.ffi)).map { try JSONValue(jsonText: $0) }
    }

    /// The alarm's time in milliseconds since the Unix epoch, or nil when none is set.
    public func getAlarm(_ object: ObjectRef) async throws -> UInt64? {
        try await ffi.getAlarm(objectRef: object)
    }

    /// Sets the alarm to `timeMs` (ms since the Unix epoch); sockets get `{"type":"alarm"}` when it fires.
    public func setAlarm(_ object: ObjectRef, timeMs: UInt64) async throws {
        try await ffi.setAlarm(objectRef: object, timeMs: timeMs)
    }

    /// Deletes the alarm (no error when none was set).
    public func deleteAlarm(_ object: ObjectRef) async throws {
        try await ffi.deleteAlarm(objectRef: object)
    }

    /// Runs one SQL statement with scalar `params` bound to its `?` placeholders.
    public func sql(_ object: ObjectRef, _ query: String, params: [JSONValue] = []) async throws -> SqlResult {
        let r = try await ffi.sql(objectRef: object, query: query, paramsJson: JSONValue.array(params).jsonText)
        guard case .array(let rows) = try JSONValue(jsonText: r.rowsJson) else {
            throw DurableObjectError.InvalidResponse(reason: "SQL rows are not an array")
        }
        let table: [[JSONValue]] = try rows.map {
            guard case .array(let row) = $0 else { throw DurableObjectError.InvalidResponse(reason: "SQL row is not an array") }
            return row
        }
        return SqlResult(columns: r.columns, rows: table, rowsRead: r.rowsRead, rowsWritten: r.rowsWritten)
    }

    /// A new unique object id in `namespace` (the client's default when nil).
    public func newUniqueId(namespace: String? = nil, jurisdiction: String? = nil) async throws -> String {
        try await ffi.newUniqueId(namespace: namespace, jurisdiction: jurisdiction)
    }

    /// The id the object called `name` has in `namespace` (the client's default when nil).
    public func namespaceObjectId(_ name: String, namespace: String? = nil) async throws -> String {
        try await ffi.namespaceObjectId(namespace: namespace, name: name)
    }

    /// One page of the account's namespaces (Cloudflare's API; needs accountId and apiToken).
    public func listNamespaces(page: UInt32 = 1, perPage: UInt32 = 20) async throws -> NamespacePage {
        try await ffi.listNamespaces(page: page, perPage: perPage)
    }

    /// One page of a namespace's objects (Cloudflare's API).
    public func listObjects(_ namespaceId: String, cursor: String? = nil, limit: UInt32 = 1000) async throws -> ObjectPage {
        try await ffi.listObjects(namespaceId: namespaceId, cursor: cursor, limit: limit)
    }

    /// Opens a WebSocket to the object; returns once the first connection is up.
    public func websocket(_ object: ObjectRef) async throws -> DurableWebSocket {
        DurableWebSocket(ffi: try await ffi.websocket(objectRef: object))
    }

    /// The client's lifecycle events from the first iteration on, pulled in batches from a
    /// bounded native queue (Kotlin's `events()` Flow). Ends when the client is closed, or
    /// when the iterating task is cancelled.
    public func events(batchSize: Int = 64) -> DurableEvents {
        DurableEvents(ffi: ffi, max: UInt32(Swift.min(Swift.max(batchSize, 1), 1024)))
    }

    /// Events dropped because no one iterated `events()` fast enough.
    public var eventsDropped: UInt64 { ffi.eventsDropped() }

    /// Closes the sockets this client opened and ends `events()`. Idempotent.
    public func close() {
        if owner { ffi.shutdown() }
    }

    // The same operations for an object given by name (Kotlin's String overloads).

    /// `initialize` on the object called `objectName`.
    public func initialize(_ objectName: String, state: [String: JSONValue]) async throws {
        try await initialize(.named(objectName), state: state)
    }

    /// `callMethod` on the object called `objectName`.
    public func callMethod(
        _ objectName: String, _ method: String, params: JSONValue = [:],
        idempotencyKey: String? = nil, timeout: TimeInterval? = nil
    ) async throws -> JSONValue {
        try await callMethod(.named(objectName), method, params: params, idempotencyKey: idempotencyKey, timeout: timeout)
    }

    /// `batch` on the object called `objectName`.
    public func batch(_ objectName: String, _ calls: [BatchCall]) async throws -> [Result<JSONValue, DurableObjectError>] {
        try await batch(.named(objectName), calls)
    }

    /// `getState` of the object called `objectName`.
    public func getState(_ objectName: String) async throws -> [String: JSONValue] {
        try await getState(.named(objectName))
    }

    /// `getStateKey` of the object called `objectName`.
    public func getStateKey(_ objectName: String, key: String) async throws -> JSONValue {
        try await getStateKey(.named(objectName), key: key)
    }

    /// `updateState` of the object called `objectName`.
    public func updateState(_ objectName: String, key: String, value: JSONValue) async throws {
        try await updateState(.named(objectName), key: key, value: value)
    }

    /// `updateStateIf` of the object called `objectName`.
    public func updateStateIf(_ objectName: String, key: String, value: JSONValue, condition: Condition) async throws {
        try await updateStateIf(.named(objectName), key: key, value: value, condition: condition)
    }

    /// `deleteState` of the object called `objectName`.
    public func deleteState(_ objectName: String, key: String) async throws {
        try await deleteState(.named(objectName), key: key)
    }

    /// `getMany` of the object called `objectName`.
    public func getMany(_ objectName: String, keys: [String]) async throws -> [String: JSONValue] {
        try await getMany(.named(objectName), keys: keys)
    }

    /// `putMany` on the object called `objectName`.
    public func putMany(_ objectName: String, entries: [String: JSONValue]) async throws {
        try await putMany(.named(objectName), entries: entries)
    }

    /// `deleteMany` on the object called `objectName`.
    public func deleteMany(_ objectName: String, keys: [String]) async throws -> UInt64 {
        try await deleteMany(.named(objectName), keys: keys)
    }

    /// `deleteAll` on the object called `objectName`.
    public func deleteAll(_ objectName: String) async throws -> UInt64 {
        try await deleteAll(.named(objectName))
    }

    /// `listPage` of the object called `objectName`.
    public func listPage(_ objectName: String, options: ListOptions = ListOptions(), cursor: String? = nil) async throws -> ListPage {
        try await listPage(.named(objectName), options: options, cursor: cursor)
    }

    /// `list` of the object called `objectName`.
    public func list(_ objectName: String, options: ListOptions = ListOptions()) -> DurableList {
        list(.named(objectName), options: options)
    }

    /// `transaction` on the object called `objectName`.
    public func transaction(_ objectName: String, _ ops: [TxOp]) async throws -> [JSONValue] {
        try await transaction(.named(objectName), ops)
    }

    /// `getAlarm` of the object called `objectName`.
    public func getAlarm(_ objectName: String) async throws -> UInt64? {
        try await getAlarm(.named(objectName))
    }

    /// `setAlarm` on the object called `objectName`.
    public func setAlarm(_ objectName: String, timeMs: UInt64) async throws {
        try await setAlarm(.named(objectName), timeMs: timeMs)
    }

    /// `deleteAlarm` on the object called `objectName`.
    public func deleteAlarm(_ objectName: String) async throws {
        try await deleteAlarm(.named(objectName))
    }

    /// `sql` on the object called `objectName`.
    public func sql(_ objectName: String, _ query: String, params: [JSONValue] = []) async throws -> SqlResult {
        try await sql(.named(objectName), query, params: params)
    }

    /// `websocket` to the object called `objectName`.
    public func websocket(_ objectName: String) async throws -> DurableWebSocket {
        try await websocket(.named(objectName))
    }
}

private func jsonObject(_ text: String, what: String) throws -> [String: JSONValue] {
    guard case .object(let members) = try JSONValue(jsonText: text) else {
        throw DurableObjectError.InvalidResponse(reason: "\(what) is not a JSON object")
    }
    return members
}

private func storageEntry(_ entry: FfiEntry) throws -> StorageEntry {
    StorageEntry(key: entry.key, value: try JSONValue(jsonText: entry.valueJson))
}

/// A paged walk over an object's keys as an `AsyncSequence` (the mirror of Kotlin's `list`
/// Flow). Each iterator starts a new walk and fetches one page at a time.
public struct DurableList: AsyncSequence {
    public typealias Element = StorageEntry
    fileprivate let ffi: FfiClient
    fileprivate let object: ObjectRef
    fileprivate let options: ListOptions

    /// Hands out one page's entries, then fetches the next.
    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let ffi: FfiClient
        fileprivate let object: ObjectRef
        fileprivate let options: ListOptions
        fileprivate var lister: FfiLister?
        fileprivate var buffer: [FfiEntry] = []
        fileprivate var index = 0
        fileprivate var finished = false

        /// The next entry, or nil once the walk is done or the task is cancelled (checked
        /// before each page; a page being fetched is abandoned). After an error, nil.
        public mutating func next() async throws -> StorageEntry? {
            while index == buffer.count {
                if finished || Task.isCancelled {
                    finished = true
                    return nil
                }
                do {
                    if lister == nil { lister = try ffi.list(objectRef: object, options: options) }
                    guard let page = try await lister!.nextPage() else {
                        finished = true
                        return nil
                    }
                    buffer = page
                    index = 0
                } catch is CancellationError {
                    finished = true
                    return nil
                } catch {
                    finished = true
                    throw error
                }
            }
            let entry = buffer[index]
            index += 1
            return try storageEntry(entry)
        }
    }

    /// A new walk from the first key.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(ffi: ffi, object: object, options: options)
    }
}

/// A client's lifecycle events as an `AsyncSequence` (the mirror of Kotlin's `events()` Flow).
public struct DurableEvents: AsyncSequence {
    public typealias Element = ClientEvent
    fileprivate let ffi: FfiClient
    fileprivate let max: UInt32

    /// Pulls one batch at a time and hands it out one event at a time.
    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let ffi: FfiClient
        fileprivate let max: UInt32
        fileprivate var buffer: [ClientEvent] = []
        fileprivate var index = 0
        fileprivate var finished = false

        /// The next event, or nil once the client is closed or the task is cancelled (a
        /// pending pull ends at once, having taken nothing; events already pulled are handed out
        /// first).
        public mutating func next() async -> ClientEvent? {
            if index == buffer.count {
                if finished { return nil }
                // The pull never fails; it throws only `CancellationError`, when the task is
                // cancelled (or an internal error, which ends the iteration too).
                buffer = (try? await ffi.nextEvents(max: max)) ?? []
                index = 0
                if buffer.isEmpty {
                    finished = true
                    return nil
                }
            }
            let event = buffer[index]
            index += 1
            return event
        }
    }

    /// A new iterator over the events from now on.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(ffi: ffi, max: max)
    }
}

/// A live WebSocket to one object. It reconnects by itself (resuming after
/// the last message seen); `messages()` is an `AsyncSequence` of what the
/// object sends. `close()`, or releasing the last reference, closes it.
public final class DurableWebSocket: @unchecked Sendable {
    private let ffi: FfiWebSocket

    init(ffi: FfiWebSocket) {
        self.ffi = ffi
    }

    /// The object this socket talks to.
    public var objectName: String { ffi.object() }

    /// The current status.
    public var status: ConnectionStatus { ffi.status() }

    /// Waits until the status is `target`, at most `timeout` seconds; true when reached, false
    /// when the time ran out or the task was cancelled (the wait ends at once).
    public func awaitStatus(_ target: ConnectionStatus, timeout: TimeInterval) async -> Bool {
        // The wait never fails; it throws only `CancellationError` (or an internal error).
        (try? await ffi.waitForStatus(target: target, timeoutMs: milliseconds(timeout) ?? 0)) ?? false
    }

    /// Sends a JSON message; returns once written, or queued while reconnecting.
    public func send(_ message: JSONValue) async throws {
        try await ffi.send(messageJson: message.jsonText)
    }

    /// Calls `method` over the socket and returns its result (resent after a reconnect, run once).
    public func call(
        _ method: String,
        params: JSONValue = [:],
        idempotencyKey: String? = nil,
        timeout: TimeInterval? = nil
    ) async throws -> JSONValue {
        let text = try await ffi.call(call: FfiSocketCall(
            method: method, paramsJson: params.jsonText,
            idempotencyKey: idempotencyKey, timeoutMs: milliseconds(timeout)))
        return try JSONValue(jsonText: text)
    }

    /// The messages from the object, in order, pulled from the native buffer in batches of at
    /// most `batchSize`. Ends when the socket is closed; throws the `DurableObjectError` that
    /// ended it. A slow consumer applies backpressure; nothing is dropped. Iterate from one task
    /// at a time. Cancelling the iterating task ends the iteration once the messages already
    /// pulled are handed out: a pending pull ends at once, having taken nothing.
    public func messages(batchSize: Int = 64) -> DurableMessages<JSONValue> {
        DurableMessages(ffi: ffi, batchSize: batchSize) { try JSONValue(jsonText: $0) }
    }

    /// Like `messages()`, but each message as its JSON text (no parsing on the Swift side).
    public func rawMessages(batchSize: Int = 64) -> DurableMessages<String> {
        DurableMessages(ffi: ffi, batchSize: batchSize) { $0 }
    }

    /// Closes (code 1000) and waits for the connection to end; pending calls fail. A cancelled
    /// task stops waiting at once; the close goes on.
    public func closeGracefully() async {
        ffi.shutdown()  // started here, so a wait cancelled before it begins still closes
        // The wait never fails; it throws only `CancellationError` (or an internal error).
        _ = try? await ffi.closeAndWait()
    }

    /// Starts closing (code 1000) without waiting. Idempotent.
    public func close() {
        ffi.shutdown()
    }
}

/// The messages of a `DurableWebSocket`, as an `AsyncSequence` (the mirror of
/// Kotlin's `Flow`). Each iterator pulls batches with the native `nextBatch`.
public struct DurableMessages<Element>: AsyncSequence {
    fileprivate let ffi: FfiWebSocket
    fileprivate let batchSize: Int
    fileprivate let convert: (String) throws -> Element

    /// Pulls one batch at a time and hands it out one message at a time.
    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let ffi: FfiWebSocket
        fileprivate let max: UInt32
        fileprivate let convert: (String) throws -> Element
        fileprivate var buffer: [String] = []
        fileprivate var index = 0
        fileprivate var finished = false

        /// The next message, or nil once the socket is closed or the task is cancelled (a
        /// pending pull ends at once, having taken nothing; messages already pulled are
        /// handed out first). After an error, nil.
        public mutating func next() async throws -> Element? {
            if index == buffer.count {
                if finished { return nil }
                let (ffi, max) = (self.ffi, self.max)
                do {
                    buffer = try await ffi.nextBatch(max: max)
                } catch is CancellationError {
                    // The task was cancelled: the pull ended having taken nothing.
                    finished = true
                    return nil
                } catch {
                    finished = true
                    throw error
                }
                index = 0
                if buffer.isEmpty {
                    finished = true
                    return nil
                }
            }
            let text = buffer[index]
            index += 1
            return try convert(text)
        }
    }

    /// A new iterator over the socket's remaining messages.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(ffi: ffi, max: UInt32(Swift.min(Swift.max(batchSize, 1), 4096)), convert: convert)
    }
}

extension DurableObjectError {
    /// The core's stable kind name of this error (`not_found`, `rate_limited`, …).
    public var kindName: String { kind() }

    /// The error's message as the core words it.
    public var reason: String { describe() }

    /// The HTTP status (or close code) behind this error, when there is one.
    public var statusCode: Int? {
        switch self {
        case .Unauthorized(let status, _), .ServerError(let status, _), .HttpError(let status, _):
            return Int(status)
        case .NotFound: return 404
        case .RateLimited: return 429
        case .Conflict: return 409
        case .ConnectionClosed(let code, _): return code.map(Int.init)
        default: return nil
        }
    }

    /// How long the worker asked to wait, in seconds, for `.RateLimited`.
    public var retryAfter: TimeInterval? {
        if case .RateLimited(let retryAfterMs, _) = self {
            return retryAfterMs.map { TimeInterval($0) / 1000 }
        }
        return nil
    }
}
