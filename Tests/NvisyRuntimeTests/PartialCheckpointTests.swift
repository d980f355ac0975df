import Foundation
import NvisyCore
import PostgresNIO
import Testing
@testable import NvisyRuntime

/// Checkpoints inside a source item: a run stopped in the middle of one big CSV file resumes
/// after the rows already in the table instead of writing the whole file again.
@Suite("Partial checkpoints", .serialized)
struct PartialCheckpointTests {
    @Test("the saved form round-trips; a plain token reads as itself")
    func encoding() {
        let cases = [PartialCheckpoint(token: Data("people-003.csv".utf8), skip: 1234), PartialCheckpoint(token: nil, skip: 7)]
        for c in cases { #expect(PartialCheckpoint(decoding: c.encoded!) == c) }
        #expect(PartialCheckpoint(token: Data("a".utf8), skip: 0).encoded == Data("a".utf8))
        #expect(PartialCheckpoint(decoding: Data("people-003.csv".utf8)) == PartialCheckpoint(token: Data("people-003.csv".utf8), skip: 0))
        #expect(PartialCheckpoint(decoding: Data("x\u{0}nvisy-skip:abc".utf8)).skip == 0)
    }

    @Test("cancelled in the middle of a 3000-row file: the checkpoint holds the rows done, the resumed run skips them")
    func resumeInsideAFile() async throws {
        try await withRuntimeDatabase { url, client, executor in
            try await createPeopleTable(client, "people", slowMillis: 10)
            let dir = try writeCSVs(files: 1, rows: 3000)
            let plan = try await compile(csvPipeline(), ["files": filesConnection(dir), "table": tableConnection(url, "people")])
            let runId = UUID(), batch = 50
            let options = RunOptions(batchSize: batch, checkpointEveryItems: 1, progressInterval: .milliseconds(20))
            let run = executor.start(plan, runId: runId, options: options)
            for await p in run.progress() where p.written >= 1000 { break }
            run.cancel()
            #expect(await run.wait().status == .cancelled)
            let saved = try #require(try await executor.checkpoints.checkpoints(run: runId)["in"])
            let partial = PartialCheckpoint(decoding: saved)
            #expect(partial.token == nil, "no file was complete")
            #expect(partial.skip >= 1000 && partial.skip < 3000, "skip \(partial.skip)")
            // Consistent: the rows the checkpoint skips are in the table (ids 0..<skip, in file order).
            #expect(try await client.int("SELECT count(*)::int FROM people WHERE id < \(partial.skip)") == partial.skip)

            let resumed = await executor.run(plan, runId: runId, options: options)
            #expect(resumed.status == .completed, "\(String(describing: resumed.error))")
            #expect(try await client.int("SELECT count(*)::int FROM people") == 3000)
            #expect(try await client.int("SELECT count(DISTINCT id)::int FROM people_writes") == 3000)
            let twice = try await client.int("SELECT count(*)::int FROM people_writes") - 3000
            #expect(twice <= 2 * batch, "\(twice) rows were written twice")
            // The file was read again, but only the rows after the checkpoint went on.
            let nodes = Dictionary(uniqueKeysWithValues: resumed.progress.nodes.map { ($0.nodeId, $0) })
            #expect(nodes["in"]?.read == 1)
            #expect(nodes["csv"]?.written == 3000 - partial.skip)
            #expect(resumed.progress.checkpoints.first.map { PartialCheckpoint(decoding: $0.resumeToken!).skip } == 0)
        }
    }
}
