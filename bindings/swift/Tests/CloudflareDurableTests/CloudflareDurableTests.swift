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
        XCTAssertEqual(try await client.getStateKey(name, key: "value"), 15)
        try await client.updateState(name, key: "doc", value: ["list": [1, 2.5, "x", true, nil]])
        XCTAssertEqual(try await client.getState(name)["doc"], ["list": [1, 2.5, "x", true, nil]])
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
}
