import Testing

@testable import NvisyRuntime

/// The run ETA: the slowest source's remaining items over its current rate.
@Suite struct RunETATests {
    func node(_ id: String, _ kind: PipelineDefinition.Kind, read: Int, rate: Double, expected: Int?) -> NodeProgress {
        NodeProgress(nodeId: id, kind: kind, read: read, written: read, failed: 0, itemsPerSecond: rate, expected: expected)
    }

    @Test func theSlowestSourceDecides() {
        let eta = PipelineRun.eta([node("a", .source, read: 100, rate: 50, expected: 300),   // 4 s left
                                   node("b", .source, read: 10, rate: 10, expected: 30),     // 2 s left
                                   node("out", .sink, read: 110, rate: 60, expected: nil)])
        #expect(eta == 4)
    }

    @Test func unknownWhenASourceCannotCountOrIsStalled() {
        #expect(PipelineRun.eta([node("a", .source, read: 1, rate: 5, expected: nil)]) == nil)
        #expect(PipelineRun.eta([node("a", .source, read: 1, rate: 0, expected: 9)]) == nil)
        #expect(PipelineRun.eta([node("out", .sink, read: 1, rate: 5, expected: nil)]) == nil)
        // A source that is done needs no rate.
        #expect(PipelineRun.eta([node("a", .source, read: 9, rate: 0, expected: 9)]) == 0)
    }
}
