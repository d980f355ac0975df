import Foundation
import NvisyCore
import NvisyPlugins
import Testing
@testable import NvisyRuntime

typealias Def = PipelineDefinition
typealias N = PipelineDefinition.Node
typealias E = PipelineDefinition.Edge

/// The compiler against the real registry (dlopen'd plugins) and in-memory connections.
@Suite("Pipeline compiler")
struct CompilerTests {
    static let connections = StaticConnectionResolver([
        "files-in": ResolvedConnection(provider: "filesystem/files", config: ["root": "/tmp/in", "glob": "*.csv"]),
        "files-out": ResolvedConnection(provider: "filesystem/files", config: ["root": "/tmp/out"]),
        "pg": ResolvedConnection(provider: "postgres/table", config: ["url": "postgres://u@localhost/db", "table": "people", "key": "id"],
                                 credentials: ["password": "secret"]),
        "no-root": ResolvedConnection(provider: "filesystem/files", config: ["glob": 3]),
        "disabled": ResolvedConnection(provider: "trivial/counter", config: [:]),
        "missing": ResolvedConnection(provider: "nope/thing", config: [:]),
    ])

    func compiler() async throws -> PipelineCompiler {
        PipelineCompiler(host: try await RuntimeTestSupport.host(), connections: Self.connections)
    }

    func problems(_ d: Def) async throws -> [PipelineProblem] {
        try await compiler().problems(in: d)
    }

    /// files → csv → filter → postgres: the canonical valid pipeline.
    static let csvToPostgres = Def(
        nodes: [.sink("out", connection: "pg"), .transform("keep", "filter", params: ["where": [">=": [["var": "/age"], 18]]]),
                .transform("csv", "formats/csv"), .source("in", connection: "files-in")],
        edges: [E(from: "in", to: "csv"), E(from: "csv", to: "keep"), E(from: "keep", to: "out")])

    @Test("a valid pipeline compiles to a plan in topological order, with types along it")
    func validPlan() async throws {
        let plan = try await compiler().compile(Self.csvToPostgres)
        #expect(plan.steps.map(\.id) == ["in", "csv", "keep", "out"])
        #expect(plan.steps.map(\.outputType) == [.object, .record, .record, .record])
        #expect(plan.step("keep")?.inputType == .record)
        #expect(!plan.description.contains("secret"))
        // The definition round-trips as camelCase JSON.
        let json = try JSONEncoder().encode(Self.csvToPostgres)
        #expect(try JSONDecoder().decode(Def.self, from: json) == Self.csvToPostgres)
        let text = #"{"nodes":[{"id":"a","kind":"source","connection":"files-in"},{"id":"s","kind":"switch","cases":[{"port":"csv","when":{"extension":"csv"}}]},{"id":"b","kind":"sink","connection":"files-out"}],"edges":[{"from":"a","to":"s"},{"from":"s","to":"b","port":"csv"}]}"#
        let decoded = try JSONDecoder().decode(Def.self, from: Data(text.utf8))
        #expect(try await compiler().compile(decoded).steps.map(\.id) == ["a", "s", "b"])
    }

    @Test("unknown node in an edge")
    func unknownNode() async throws {
        var d = Self.csvToPostgres
        d.edges.append(E(from: "ghost", to: "out"))
        d.edges.append(E(from: "csv", to: "phantom"))
        let p = try await problems(d)
        #expect(p.filter { $0.code == .unknownNode }.map(\.pointer) == ["/edges/3/from", "/edges/4/to"])
        #expect(p.count == 2, "\(p)")
    }

    @Test("a cycle is named node by node")
    func cycle() async throws {
        let d = Def(nodes: [.source("in", connection: "files-in"), .transform("a", "map", params: [:]), .transform("b", "map", params: [:]),
                            .transform("c", "map", params: [:]), .sink("out", connection: "files-out")],
                    edges: [E(from: "in", to: "a"), E(from: "a", to: "b"), E(from: "b", to: "c"), E(from: "c", to: "a"), E(from: "c", to: "out")])
        let p = try await problems(d)
        #expect(p.map(\.code) == [.cycle], "\(p)")
        #expect(p.first?.message.contains("a → b → c → a") == true, "\(p)")
        #expect(p.first?.nodeId == "a")
        #expect(p.first?.pointer == "/nodes/1")
    }

    @Test("a source with inputs, a sink with outputs")
    func degrees() async throws {
        let d = Def(nodes: [.source("in", connection: "files-in"), .transform("m", "map", params: [:]), .sink("out", connection: "files-out"),
                            .source("in2", connection: "files-in"), .sink("out2", connection: "files-out")],
                    edges: [E(from: "in", to: "m"), E(from: "m", to: "out"), E(from: "m", to: "in2"), E(from: "in2", to: "out2"),
                            E(from: "out", to: "out2")])
        let p = try await problems(d)
        #expect(p.contains { $0.code == .sourceWithInputs && $0.nodeId == "in2" && $0.pointer == "/nodes/3" }, "\(p)")
        #expect(p.contains { $0.code == .sinkWithOutputs && $0.nodeId == "out" && $0.pointer == "/nodes/2" }, "\(p)")
    }

    @Test("a node no source reaches")
    func unreachable() async throws {
        var d = Self.csvToPostgres
        d.nodes += [.transform("orphan", "map", params: [:]), .transform("mid", "map", params: [:]), .sink("out2", connection: "files-out")]
        d.edges += [E(from: "orphan", to: "mid"), E(from: "mid", to: "out2")]
        let p = try await problems(d)
        #expect(p.contains { $0.code == .missingInput && $0.nodeId == "orphan" }, "\(p)")
        #expect(p.filter { $0.code == .unreachable }.compactMap(\.nodeId) == ["mid", "out2"], "\(p)")
    }

    @Test("data types that do not match along an edge")
    func typeMismatch() async throws {
        let d = Def(nodes: [.source("in", connection: "files-in"), .sink("out", connection: "pg"),
                            .transform("chunks", "chunk", params: ["size": 10])],
                    edges: [E(from: "in", to: "out"), E(from: "in", to: "chunks"), E(from: "chunks", to: "out")])
        let p = try await problems(d)
        let mismatches = p.filter { $0.code == .typeMismatch }
        #expect(Set(mismatches.map(\.pointer)) == ["/edges/0", "/edges/1", "/edges/2"], "\(p)")
        let direct = mismatches.first { $0.pointer == "/edges/0" }
        #expect(direct?.message.contains("formats/csv") == true, "\(p)")
        #expect(direct?.nodeId == "out")
        #expect(mismatches.first { $0.pointer == "/edges/1" }?.nodeId == "chunks")
    }

    @Test("a provider that is missing, disabled, or of the wrong kind")
    func providers() async throws {
        let d = Def(nodes: [.source("in", connection: "disabled"), .transform("x", "nope/thing"),
                            .transform("w", "whatever"), .transform("s", "postgres/table"), .sink("out", connection: "missing")],
                    edges: [E(from: "in", to: "x"), E(from: "x", to: "w"), E(from: "w", to: "s"), E(from: "s", to: "out")])
        let p = try await problems(d).filter { $0.code == .providerUnavailable }
        #expect(p.compactMap(\.nodeId) == ["in", "x", "w", "s", "out"], "\(p)")
        #expect(p[0].message.contains("disabled"), "\(p[0])")
        #expect(p[0].pointer == "/nodes/0/connection")
        #expect(p[1].pointer == "/nodes/1/transform")
        #expect(p[3].message.contains("cannot be a transform"), "\(p[3])")
    }

    @Test("configs and params that fail the provider's schema or the built-in's rules")
    func invalidConfig() async throws {
        let d = Def(nodes: [.source("in", connection: "no-root"), .transform("csv", "formats/csv", params: ["delimiter": ";;", "extra": 1]),
                            .transform("keep", "filter", params: ["where": ["~~": [1, 2]]]),
                            .transform("m", "map", params: ["drop": ["name"]]),
                            .sink("out", connection: "pg")],
                    edges: [E(from: "in", to: "csv"), E(from: "csv", to: "keep"), E(from: "keep", to: "m"), E(from: "m", to: "out")])
        let p = try await problems(d)
        #expect(p.allSatisfy { $0.code == .invalidConfig }, "\(p)")
        let byNode = Dictionary(grouping: p, by: { $0.nodeId ?? "" })
        #expect(byNode["in"]?.count == 2, "\(p)")  // root required, glob not a string
        #expect(byNode["in"]?.allSatisfy { $0.pointer == "/nodes/0/connection" } == true)
        #expect(byNode["in"]?.contains { $0.message.contains("/config/root") } == true, "\(p)")
        #expect(Set(byNode["csv"]?.map(\.pointer) ?? []) == ["/nodes/1/params/delimiter", "/nodes/1/params/extra"], "\(p)")
        #expect(byNode["keep"]?.map(\.pointer) == ["/nodes/2/params/where/~0~0"], "\(p)")
        #expect(byNode["m"]?.map(\.pointer) == ["/nodes/3/params/drop/0"], "\(p)")
    }

    @Test("switch ports: unconnected, unknown, missing")
    func switchPorts() async throws {
        let d = Def(nodes: [.source("in", connection: "files-in"),
                            .switch("route", cases: [.init(port: "csv", when: ["extension": ["csv"]]), .init(port: "json", when: ["extension": "json"])]),
                            .transform("csv", "formats/csv"), .sink("out", connection: "pg"), .sink("raw", connection: "files-out")],
                    edges: [E(from: "in", to: "route"), E(from: "route", to: "csv", port: "csv"), E(from: "csv", to: "out"),
                            E(from: "route", to: "raw", port: "xml"), E(from: "route", to: "raw"), E(from: "in", to: "raw", port: "csv")])
        let p = try await problems(d)
        #expect(p.allSatisfy { $0.code == .switchPort }, "\(p)")
        #expect(Set(p.map(\.pointer)) == ["/nodes/1/cases/1/port", "/edges/3/port", "/edges/4/port", "/edges/5/port"], "\(p)")
    }

    @Test("unknown connections, missing fields, duplicate ids, empty graphs")
    func nodes() async throws {
        let d = Def(nodes: [N(id: "in", kind: .source, connection: "nowhere"), N(id: "in", kind: .sink, connection: "pg"),
                            N(id: "t", kind: .transform), N(id: "sw", kind: .switch, connection: "pg")],
                    edges: [E(from: "in", to: "t"), E(from: "t", to: "sw")])
        let p = try await problems(d)
        #expect(p.contains { $0.code == .unknownConnection && $0.pointer == "/nodes/0/connection" }, "\(p)")
        #expect(p.contains { $0.code == .duplicateNode && $0.pointer == "/nodes/1/id" }, "\(p)")
        #expect(p.contains { $0.code == .invalidNode && $0.pointer == "/nodes/2/transform" }, "\(p)")
        #expect(p.contains { $0.code == .invalidNode && $0.pointer == "/nodes/3/cases" }, "\(p)")
        #expect(p.contains { $0.code == .invalidNode && $0.pointer == "/nodes/3/connection" }, "\(p)")
        #expect(try await problems(Def(nodes: [], edges: [])).map(\.code) == [.empty])
    }

    @Test("every problem at once, as an RFC 9457 field list")
    func allAtOnce() async throws {
        let d = Def(nodes: [.source("in", connection: "files-in"), .transform("a", "map", params: [:]), .transform("b", "map", params: [:]),
                            .sink("out", connection: "pg"), .transform("bad", "filter", params: [:])],
                    edges: [E(from: "in", to: "out"), E(from: "a", to: "b"), E(from: "b", to: "a"), E(from: "x", to: "out"),
                            E(from: "in", to: "bad"), E(from: "bad", to: "out")])
        do {
            _ = try await compiler().compile(d)
            Issue.record("expected problems")
        } catch let e as PipelineCompileError {
            let codes = Set(e.problems.map(\.code))
            #expect(codes.isSuperset(of: [.cycle, .unknownNode, .invalidConfig, .unreachable]), "\(e)")
            let n = e.nvisyError
            #expect(n.kind == .invalidInput)
            #expect(n.fieldErrors.count == e.problems.count)
            #expect(n.fieldErrors.contains { $0.pointer == "/edges/3/from" })
        }
    }

    @Test("random graphs: the compiler never crashes, always finds a cycle when there is one, and plans are topological")
    func fuzz() async throws {
        let compiler = try await compiler()
        var rng = SeededGenerator(seed: 0x6e76697379)
        var withCycles = 0, compiled = 0
        for round in 0..<400 {
            let n = Int.random(in: 1...9, using: &rng)
            var nodes: [N] = []
            for i in 0..<n {
                switch Int.random(in: 0..<10, using: &rng) {
                case 0, 1: nodes.append(.source("n\(i)", connection: "files-in"))
                case 2, 3: nodes.append(.sink("n\(i)", connection: "files-out"))
                case 4: nodes.append(.switch("n\(i)", cases: [.init(port: "p", when: ["exists": "/path"])]))
                case 5: nodes.append(.transform("n\(i)", "filter", params: ["where": true]))
                default: nodes.append(.transform("n\(i)", "map", params: [:]))
                }
            }
            var edges: [E] = []
            for _ in 0..<Int.random(in: 0...(n * 2), using: &rng) {
                let f = Int.random(in: 0..<(n + 1), using: &rng), t = Int.random(in: 0..<n, using: &rng)
                let from = f == n ? "ghost" : "n\(f)"
                let port: String? = f < n && nodes[f].kind == .switch ? (Bool.random(using: &rng) ? "p" : "default") : nil
                edges.append(E(from: from, to: "n\(t)", port: port))
            }
            let d = Def(nodes: nodes, edges: edges)
            let hasCycle = Self.hasCycle(d)
            let problems = try await compiler.problems(in: d)
            let cycles = problems.filter { $0.code == .cycle }
            #expect(hasCycle == !cycles.isEmpty, "round \(round): \(d) → \(problems)")
            for c in cycles {
                // The named cycle is real: each consecutive pair is an edge.
                let names = c.message.dropFirst("cycle: ".count).split(separator: ";")[0].components(separatedBy: " → ")
                for (a, b) in zip(names, names.dropFirst()) {
                    #expect(d.edges.contains { $0.from == a && $0.to == b }, "round \(round): \(a)→\(b) in \(c)")
                }
            }
            if hasCycle { withCycles += 1 }
            if problems.isEmpty {
                compiled += 1
                let plan = try await compiler.compile(d)
                let position = Dictionary(uniqueKeysWithValues: plan.steps.enumerated().map { ($1.id, $0) })
                for e in d.edges { #expect(position[e.from]! < position[e.to]!) }
            }
        }
        #expect(withCycles > 20)
        #expect(compiled > 0)
    }

    /// An independent check: depth-first search for a back edge.
    static func hasCycle(_ d: Def) -> Bool {
        let ids = Set(d.nodes.map(\.id))
        var succ: [String: [String]] = [:]
        for e in d.edges where ids.contains(e.from) && ids.contains(e.to) { succ[e.from, default: []].append(e.to) }
        var state: [String: Int] = [:]
        func visit(_ v: String) -> Bool {
            state[v] = 1
            for w in succ[v] ?? [] {
                if state[w] == 1 { return true }
                if state[w] == nil, visit(w) { return true }
            }
            state[v] = 2
            return false
        }
        return ids.sorted().contains { state[$0] == nil && visit($0) }
    }
}
