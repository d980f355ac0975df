import Foundation
import NvisyCore
import NvisyPlugins
import Testing

/// A Python cursor pulls one batch ahead of its consumer, two once the consumer has written the
/// batch to a Python sink (`PythonCursor`): the order, sizes, errors and cancellation must be
/// those of a cursor that does not.
@Suite("Python cursors read ahead")
struct ReadAheadTests {
    @Test("batches keep their order and never exceed what each next asked for")
    func sizes() async throws {
        let host = try await PyTest.host(["handon.toml": HandOnTests.manifest])
        let source = try await host.makeSource("handon/made", config: ["count": 12])
        let cursor = try await source.openCursor(after: nil)
        var got: [[String]] = []
        for n in [5, 2, 2, 10, 10] {
            got.append(try #require(try await cursor.next(maxItems: n)).map(\.resumeTokenString))
        }
        #expect(got == [["t0", "t1", "t2", "t3", "t4"], ["t5", "t6"], ["t7", "t8"], ["t9"], ["t10", "t11"]])
        #expect(try await cursor.next(maxItems: 10) == nil)
        #expect(try await cursor.next(maxItems: 10) == nil)
        cursor.close()
    }

    @Test("one batch ahead for any consumer, two once a batch went to a Python sink, never more")
    func depth() async throws {
        let host = try await PyTest.host(["wake.toml": LoopWakeTests.manifest])
        let path = try PyTest.tempDirectory("depth").appendingPathComponent("yielded")
        let source = try await host.makeSource("wake/counted", config: ["count": 30, "path": .string(path.path)])
        let sink = try await host.makeSink("wake/echo", config: [:])
        /// How many records the source has yielded, once it has reached `expected` (or 20 s
        /// passed: other suites share the Python thread) and then 300 ms more (for one too many).
        func yielded(_ expected: Int) async throws -> Int {
            func read() -> Int { (try? String(contentsOf: path, encoding: .utf8)).flatMap { Int($0) } ?? -1 }
            let deadline = ContinuousClock.now + .seconds(20)
            while read() < expected, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(300))
            return read()
        }
        let cursor = try await source.openCursor(after: nil)
        let first = try #require(try await cursor.next(maxItems: 3))
        #expect(try await yielded(6) == 6)  // batch 0 and one ahead, no more
        try await sink.write(first)
        #expect(try await yielded(9) == 9)  // written to a Python sink: a second one ahead, no more
        let second = try #require(try await cursor.next(maxItems: 3))
        #expect(second.map(\.resumeTokenString) == ["3", "4", "5"])
        #expect(try await yielded(9) == 9)  // batch 2 is still ahead: nothing new until a write
        try await sink.write(second)
        #expect(try await yielded(12) == 12)
        var tokens = (first + second).map(\.resumeTokenString)
        while let batch = try await cursor.next(maxItems: 3) {
            tokens += batch.map(\.resumeTokenString)
            try await sink.write(batch)
        }
        #expect(tokens == (0..<30).map(String.init))
        cursor.close()
    }

    @Test("an error while reading ahead is thrown by the next call, after the batches before it")
    func errorAhead() async throws {
        let host = try await PyTest.host(["handon.toml": HandOnTests.manifest])
        let source = try await host.makeSource("handon/stall", config: ["mode": "fail"])
        var batches = 0
        do {
            for try await _ in source.read(batchSize: 1) { batches += 1 }
            Issue.record("expected the second batch to fail")
        } catch let e as NvisyError {
            #expect(e.retry == .transient)
            #expect(e.message.contains("TransientError: the second batch failed"), "\(e.message)")
        }
        #expect(batches == 1)
    }

    @Test("a consumer that stops early cancels the read-ahead it will not take")
    func cancelAhead() async throws {
        let host = try await PyTest.host(["handon.toml": HandOnTests.manifest])
        let flag = try PyTest.tempDirectory("ahead").appendingPathComponent("ended")
        let source = try await host.makeSource("handon/stall", config: ["mode": "wait", "path": .string(flag.path)])
        let first = try await source.read(batchSize: 1).first { _ in true }
        #expect(first?.map(\.resumeTokenString) == ["0"])
        // The read-ahead waits in the provider; leaving the loop closed the cursor and cancelled it.
        let deadline = ContinuousClock.now + .seconds(10)
        while !FileManager.default.fileExists(atPath: flag.path), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let how = try? String(contentsOf: flag, encoding: .utf8)
        #expect(how == "CancelledError" || how == "GeneratorExit", "\(how ?? "the provider was never stopped")")
    }
}
