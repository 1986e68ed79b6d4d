// NOT RUN on the machine this was written on (no Swift toolchain there).
// Mirrors a few of bindings/kotlin's JUnit tests. Start a worker first:
//   python3 tests/harness/worker.py start --state-dir /tmp/cfd-swift
//   CFD_WORKER_URL=$(python3 tests/harness/worker.py url --state-dir /tmp/cfd-swift) swift test
import XCTest
@testable import CloudflareDurable

final class CloudflareDurableTests: XCTestCase {
    private var workerURL: String {
        get throws {
            guard let url = ProcessInfo.processInfo.environment["CFD_WORKER_URL"] else {
                throw XCTSkip("set CFD_WORKER_URL to a running local worker")
            }
            return url
        }
    }

    private let run = String(UInt64(Date().timeIntervalSince1970 * 1000), radix: 36)

    func testEveryOperation() async throws {
        let client = try DurableClient(workerUrl: try workerURL)
        defer { client.close() }
        let name = "swift-counter-\(run)"
        try await client.initialize(name, state: ["value": 10])
        let result = try await client.callMethod(name, "increment", params: ["increment": 5])
        XCTAssertEqual(result["value"], 15)
        let value = try await client.getStateKey(name, key: "value")
        XCTAssertEqual(value, 15)
        try await client.updateState(name, key: "doc", value: ["list": [1, 2.5, "x", true, nil]])
        let doc = try await client.getState(name)["doc"]
        XCTAssertEqual(doc, ["list": [1, 2.5, "x", true, nil]])
        try await client.deleteState(name, key: "doc")
        do {
            _ = try await client.getStateKey(name, key: "doc")
            XCTFail("expected NotFound")
        } catch let error as DurableObjectError {
            XCTAssertEqual(error.kindName, "not_found")
            XCTAssertEqual(error.statusCode, 404)
        }
    }

    func testMessagesReceiveABroadcast() async throws {
        let client = try DurableClient(workerUrl: try workerURL)
        defer { client.close() }
        let name = "swift-ws-\(run)"
        let socket = try await client.websocket(name)
        defer { socket.close() }
        try await client.updateState(name, key: "color", value: "teal")
        for try await message in socket.messages() where message["key"] == "color" {
            XCTAssertEqual(message["value"], "teal")
            break
        }
        let echoed = try await socket.call("echo", params: ["text": "✓"])
        XCTAssertEqual(echoed["text"], "✓")
    }

    func testCancellingTheIteratingTaskEndsTheIteration() async throws {
        let client = try DurableClient(workerUrl: try workerURL)
        defer { client.close() }
        let name = "swift-cancel-\(run)"
        let socket = try await client.websocket(name)
        defer { socket.close() }
        try await client.updateState(name, key: "before", value: 1)
        let iterating = Task { () -> [JSONValue] in
            var seen: [JSONValue] = []
            for try await message in socket.messages() where message["key"] != nil {
                seen.append(message)
            }
            return seen
        }
        // Nothing else is sent: before the fix this waited for a message forever.
        iterating.cancel()
        let seen = try await iterating.value
        XCTAssertLessThanOrEqual(seen.count, 1)
        // Nothing was taken by the cancelled pull: a new iteration sees what comes next.
        try await client.updateState(name, key: "after", value: 2)
        for try await message in socket.messages() where message["key"] == "after" {
            XCTAssertEqual(message["value"], 2)
            break
        }
    }

    func testCancellingACallThrowsCancellationErrorAtOnce() async throws {
        let client = try DurableClient(workerUrl: try workerURL)
        defer { client.close() }
        let name = "swift-cancel-call-\(run)"
        let sleeping = Task { () -> JSONValue in
            try await client.callMethod(name, "test_sleep", params: ["ms": 20_000])
        }
        let started = Date()
        sleeping.cancel()
        do {
            _ = try await sleeping.value
            XCTFail("a cancelled call returned its result")
        } catch is CancellationError {
            // Far below the worker's 20 s sleep: the call was abandoned, not awaited.
            XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        }
        let echoed = try await client.callMethod(name, "echo", params: ["text": "after"])
        XCTAssertEqual(echoed["text"], "after")
    }

    func testCancelledWaitsEndAtOnceAndTheCloseGoesOn() async throws {
        let client = try DurableClient(workerUrl: try workerURL)
        defer { client.close() }
        let socket = try await client.websocket("swift-cancel-wait-\(run)")
        defer { socket.close() }
        let connected = await socket.awaitStatus(.connected, timeout: 10)
        XCTAssertTrue(connected)
        // No one closes the socket: before the fix this waited the whole 60 s.
        let waiting = Task { await socket.awaitStatus(.closed, timeout: 60) }
        let started = Date()
        waiting.cancel()
        let reached = await waiting.value
        XCTAssertFalse(reached)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertEqual(socket.status, .connected)
        // A graceful close from a task cancelled before it starts: the wait ends, the close goes on.
        let closing = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await socket.closeGracefully()
        }
        await closing.value
        let closed = await socket.awaitStatus(.closed, timeout: 10)
        XCTAssertTrue(closed)
    }

    func testEveryCoreKindIsMapped() {
        let all: [DurableObjectError] = [
            .InvalidInput(field: "key", reason: "r"), .Unauthorized(status: 401, reason: "r"),
            .NotFound(reason: "r"), .RateLimited(retryAfterMs: nil, reason: "r"),
            .ServerError(status: 500, reason: "r"), .HttpError(status: 418, reason: "r"),
            .Timeout(reason: "r"), .NetworkError(reason: "r"), .InvalidResponse(reason: "r"),
            .ConnectionClosed(code: 1000, reason: "r"), .QueueFull(capacity: 1, reason: "r"),
            .Conflict(reason: "r"),
        ]
        XCTAssertEqual(all.map(\.kindName), errorKindNames())
    }
    // Mirrors of bindings/kotlin's SurfaceTest (not run here either).

    func testNamespacesIdsAndStorage() async throws {
        let client = try DurableClient(workerUrl: try workerURL)
        defer { client.close() }
        let name = "swift-ns-\(run)"
        let sql = ObjectRef.named(name, namespace: "sql")
        try await client.updateState(sql, key: "k", value: "in sql")
        let id = try await client.namespaceObjectId(name, namespace: "sql")
        let k = try await client.getStateKey(ObjectRef.ofId(id, namespace: "sql"), key: "k")
        XCTAssertEqual(k, "in sql")

        let store = ObjectRef.named("swift-store-\(run)")
        var entries: [String: JSONValue] = [:]
        for i in 0..<40 { entries[String(format: "item:%03d", i)] = .integer(Int64(i)) }
        try await client.putMany(store, entries: entries)
        var keys: [String] = []
        for try await entry in client.list(store, options: ListOptions(prefix: "item:", limit: 16)) {
            keys.append(entry.key)
        }
        XCTAssertEqual(keys, entries.keys.sorted())
        let deleted = try await client.deleteAll(store)
        XCTAssertEqual(deleted, 40)
    }

    func testTransactionsConditionsSqlAndBatches() async throws {
        let client = try DurableClient(workerUrl: try workerURL)
        defer { client.close() }
        let obj = "swift-tx-\(run)"
        try await client.initialize(obj, state: ["balance": 10])
        let results = try await client.transaction(obj, [.checkEquals(key: "balance", value: 10), .put(key: "balance", value: 7), .get(key: "balance")])
        XCTAssertEqual(results[2], ["value": 7])
        do {
            try await client.updateStateIf(obj, key: "balance", value: 1, condition: .equals(10))
            XCTFail("expected Conflict")
        } catch let error as DurableObjectError {
            XCTAssertEqual(error.kindName, "conflict")
        }
        let rows = try await client.sql(ObjectRef.named("swift-sql-\(run)", namespace: "sqlro"), "SELECT 1 + ? AS two", params: [1])
        XCTAssertEqual(rows.rows, [[2]])
        let batch = try await client.batch(obj, [BatchCall("echo", params: 1), BatchCall("no_such_method")])
        XCTAssertEqual(try batch[0].get(), 1)
        if case .failure(let error) = batch[1] { XCTAssertEqual(error.kindName, "not_found") } else { XCTFail("expected a failure") }
    }
}
