import Foundation

// The idiomatic Swift API, the mirror of Kotlin's DurableClient.kt. Everything
// here only converts types and hands work to the generated uniffi layer
// (Generated/CloudflareDurable.swift), which calls the Rust core.

private func milliseconds(_ seconds: TimeInterval?) -> UInt64? {
    seconds.map { UInt64(max(0, ($0 * 1000).rounded())) }
}

/// A client for one worker. Every operation is `async` and never blocks the
/// calling thread; failures are `DurableObjectError`s.
///
/// `close()` closes every socket opened through this client; the native
/// client is freed when the last reference goes away.
public final class DurableClient: @unchecked Sendable {
    private let ffi: FfiClient

    /// A client with the given options (`ClientOptions(workerUrl:…)`).
    public init(options: ClientOptions) throws {
        ffi = try FfiClient(options: options)
    }

    /// A client for `workerUrl`, with an optional bearer `apiToken` and core defaults otherwise.
    public convenience init(workerUrl: String, apiToken: String? = nil) throws {
        try self.init(options: ClientOptions(workerUrl: workerUrl, apiToken: apiToken))
    }

    /// Stores `state` in the object, one storage key per member, and broadcasts each key.
    public func initialize(_ objectName: String, state: [String: JSONValue]) async throws {
        try await ffi.initialize(object: objectName, stateJson: JSONValue.object(state).jsonText)
    }

    /// Calls `method` on the object with `params` and returns its result. Every call carries an
    /// idempotency key (generated unless given), so retries run it once.
    public func callMethod(
        _ objectName: String,
        _ method: String,
        params: JSONValue = [:],
        idempotencyKey: String? = nil,
        timeout: TimeInterval? = nil
    ) async throws -> JSONValue {
        let text = try await ffi.callMethod(
            object: objectName, method: method, paramsJson: params.jsonText,
            idempotencyKey: idempotencyKey, timeoutMs: milliseconds(timeout))
        return try JSONValue(jsonText: text)
    }

    /// The object's whole state.
    public func getState(_ objectName: String) async throws -> [String: JSONValue] {
        let value = try JSONValue(jsonText: try await ffi.getState(object: objectName))
        guard case .object(let members) = value else {
            throw DurableObjectError.InvalidResponse(reason: "state is not a JSON object")
        }
        return members
    }

    /// One key of the object's state; `DurableObjectError.NotFound` when absent.
    public func getStateKey(_ objectName: String, key: String) async throws -> JSONValue {
        try JSONValue(jsonText: try await ffi.getStateKey(object: objectName, key: key))
    }

    /// Sets one key of the object's state and broadcasts it.
    public func updateState(_ objectName: String, key: String, value: JSONValue) async throws {
        try await ffi.updateState(object: objectName, key: key, valueJson: value.jsonText)
    }

    /// Deletes one key of the object's state (no error when absent) and broadcasts it.
    public func deleteState(_ objectName: String, key: String) async throws {
        try await ffi.deleteState(object: objectName, key: key)
    }

    /// Opens a WebSocket to the object; returns once the first connection is up.
    public func websocket(_ objectName: String) async throws -> DurableWebSocket {
        DurableWebSocket(ffi: try await ffi.websocket(object: objectName))
    }

    /// Closes the sockets this client opened. Idempotent.
    public func close() {
        ffi.shutdown()
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

    /// Waits until the status is `target`, at most `timeout` seconds; true when reached.
    public func awaitStatus(_ target: ConnectionStatus, timeout: TimeInterval) async -> Bool {
        await ffi.waitForStatus(target: target, timeoutMs: milliseconds(timeout) ?? 0)
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
        let text = try await ffi.call(
            method: method, paramsJson: params.jsonText,
            idempotencyKey: idempotencyKey, timeoutMs: milliseconds(timeout))
        return try JSONValue(jsonText: text)
    }

    /// The messages from the object, in order, pulled from the native buffer in batches of at
    /// most `batchSize`. Ends when the socket is closed; throws the `DurableObjectError` that
    /// ended it. A slow consumer applies backpressure; nothing is dropped. Iterate from one task
    /// at a time; cancelling the iterating task loses no message.
    public func messages(batchSize: Int = 64) -> DurableMessages<JSONValue> {
        DurableMessages(ffi: ffi, batchSize: batchSize) { try JSONValue(jsonText: $0) }
    }

    /// Like `messages()`, but each message as its JSON text (no parsing on the Swift side).
    public func rawMessages(batchSize: Int = 64) -> DurableMessages<String> {
        DurableMessages(ffi: ffi, batchSize: batchSize) { $0 }
    }

    /// Closes (code 1000) and waits for the connection to end; pending calls fail.
    public func closeGracefully() async {
        await ffi.closeAndWait()
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

        /// The next message, or nil once the socket is closed.
        public mutating func next() async throws -> Element? {
            if index == buffer.count {
                if finished { return nil }
                buffer = try await ffi.nextBatch(max: max)
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
