import Foundation
import NvisyCore
import NvisyPlugins
import NvisyRuntime
import NvisyTestSupport
import Testing

/// Hostile pipeline definitions: the JSON decoder and the graph compiler (against the real,
/// dlopen'd plugins) either give a value or their typed error — never a trap, never a hang.
@Suite("Fuzz: pipeline definitions", .timeLimit(.minutes(20)))
struct PipelineDefinitionFuzzTests {
    static let connections = StaticConnectionResolver([
        "files-in": ResolvedConnection(provider: "filesystem/files", config: ["root": "/tmp/in", "glob": "*.csv"]),
        "files-out": ResolvedConnection(provider: "filesystem/files", config: ["root": "/tmp/out"]),
        "pg": ResolvedConnection(provider: "postgres/table", config: ["url": "postgres://u@localhost/db", "table": "t", "key": "id"]),
        "bad": ResolvedConnection(provider: "filesystem/files", config: ["glob": 3]),
        "ghost": ResolvedConnection(provider: "nope/thing", config: [:]),
    ])

    static let samples = [
        #"{"nodes":[{"id":"in","kind":"source","connection":"files-in"},{"id":"csv","kind":"transform","transform":"formats/csv"},{"id":"keep","kind":"transform","transform":"filter","params":{"where":{">=":[{"var":"/age"},18]}}},{"id":"out","kind":"sink","connection":"pg"}],"edges":[{"from":"in","to":"csv"},{"from":"csv","to":"keep"},{"from":"keep","to":"out"}]}"#,
        #"{"nodes":[{"id":"a","kind":"source","connection":"files-in"},{"id":"s","kind":"switch","cases":[{"port":"csv","when":{"extension":["csv"]}},{"port":"big","when":{"and":[{"exists":"/size"},{"not":{"<":[{"var":"/size"},1e6]}}]}}]},{"id":"b","kind":"sink","connection":"files-out"},{"id":"c","kind":"sink","connection":"files-out"}],"edges":[{"from":"a","to":"s"},{"from":"s","to":"b","port":"csv"},{"from":"s","to":"c","port":"default"}]}"#,
        #"{"nodes":[{"id":"in","kind":"source","connection":"files-in"},{"id":"m","kind":"transform","transform":"map","params":{"rename":{"/a":"/b"},"drop":["/x"],"set":{"/y":[1,"two",null]}}},{"id":"k","kind":"transform","transform":"chunk","params":{"size":10,"overlap":2,"by":"characters"}},{"id":"out","kind":"sink","connection":"bad"}],"edges":[{"from":"in","to":"m"},{"from":"m","to":"k"},{"from":"k","to":"out"}]}"#,
        #"{"nodes":[{"id":"x","kind":"source","connection":"ghost"},{"id":"y","kind":"transform","transform":"filter","params":{"where":{"or":[{"in":[{"var":"/t"},["a","b"]]},{"contentType":"text/*"},{"language":["en"]},{"category":["document"]}]}}},{"id":"z","kind":"sink","connection":"files-out"}],"edges":[{"from":"x","to":"y"},{"from":"y","to":"z"},{"from":"z","to":"x"}]}"#,
        #"{"nodes":[],"edges":[]}"#,
    ]

    static let mutator = FuzzMutator(samples: samples, tokens: [
        #""nodes":[],"#, #""edges":[{"from":"in","to":"in"}],"#, #"{"id":"in","kind":"source","connection":"files-in"},"#,
        #""kind":"switch""#, #""kind":"sink""#, #""transform":"formats/csv""#, #""transform":"embed""#, #""params":"#,
        #"{"var":"/"}"#, #"{"var":"~2~"}"#, #"{"var":"/a/~1/-/99999999999999999999"}"#, #"{"==":[]}"#, #"{"and":[]}"#,
        #""port":"default""#, #""size":-1"#, #""overlap":99999999999"#, #""by":"page""#,
    ])

    @Test("decode and compile: a plan or every problem with a pointer, never a trap")
    func decodeAndCompile() async throws {
        let host = await ContentFixture.plugins(logger: TestPostgres.logger)
        let compiler = PipelineCompiler(host: host, connections: Self.connections)
        var decoded = 0
        await FuzzRun.cases("pipeline definition", 3_000) { rng, _ in
            let input = rng.chance(0.5) ? Self.mutator.next(&rng) : Self.treeMutation(&rng)
            FuzzRun.remember("pipeline", input)
            let definition: PipelineDefinition
            do {
                definition = try JSONDecoder().decode(PipelineDefinition.self, from: Data(input))
            } catch is DecodingError {
                return  // the API answers this with a 400 (checked by the HTTP fuzz suite)
            } catch {
                throw FuzzFailure("JSONDecoder threw something other than DecodingError: \(error)", input: input)
            }
            decoded += 1
            do {
                _ = try await compiler.compile(definition)
            } catch let error as PipelineCompileError {
                guard !error.problems.isEmpty,
                      error.problems.allSatisfy({ $0.pointer.hasPrefix("/") && !$0.message.isEmpty })
                else { throw FuzzFailure("a compile error without a pointed, explained problem: \(error)", input: input) }
            } catch {
                throw FuzzFailure("compile threw \(type(of: error)): \(error)", input: input)
            }
        }
        // The mutations must reach the compiler, not stop at the decoder.
        #expect(decoded > 150 * FuzzRun.scale, "only \(decoded) inputs decoded")
    }

    @Test("generated graphs of any shape and nesting compile or report their problems")
    func generatedGraphs() async throws {
        let host = await ContentFixture.plugins(logger: TestPostgres.logger)
        let compiler = PipelineCompiler(host: host, connections: Self.connections)
        await FuzzRun.cases("pipeline graph", 1_200) { rng, _ in
            let definition = Self.graph(&rng)
            do {
                _ = try await compiler.compile(definition)
            } catch let error as PipelineCompileError {
                guard error.problems.allSatisfy({ $0.pointer.hasPrefix("/") && !$0.message.isEmpty }), !error.problems.isEmpty else {
                    throw FuzzFailure("problem without pointer or message: \(error)", input: Array((try? JSONEncoder().encode(definition)) ?? Data()))
                }
            } catch {
                throw FuzzFailure("compile threw \(error)", input: Array((try? JSONEncoder().encode(definition)) ?? Data()))
            }
        }
    }

    /// A sample with one value of its JSON tree replaced, dropped or duplicated: valid JSON whose
    /// shape is wrong in one place, which gets past the decoder far more often than byte mutations.
    static func treeMutation(_ rng: inout FuzzRandom) -> [UInt8] {
        var tree = try! JSONDecoder().decode(JSONValue.self, from: Data(rng.pick(samples).utf8))
        for _ in 0..<rng.int(1..<3) { mutateTree(&tree, &rng) }
        return Array((try? JSONEncoder().encode(tree)) ?? Data())
    }

    static func mutateTree(_ value: inout JSONValue, _ rng: inout FuzzRandom) {
        switch value {
        case .object(var o) where !o.isEmpty && rng.chance(0.8):
            let key = rng.pick(o.keys.sorted())
            switch rng.int(0..<4) {
            case 0: o[key] = nil
            case 1: o[key] = json(&rng, depth: rng.int(0..<4))
            default: mutateTree(&o[key]!, &rng)
            }
            value = .object(o)
        case .array(var a) where !a.isEmpty && rng.chance(0.8):
            let i = rng.int(0..<a.count)
            switch rng.int(0..<4) {
            case 0: a.remove(at: i)
            case 1: a.append(a[i])
            default: mutateTree(&a[i], &rng)
            }
            value = .array(a)
        default:
            value = json(&rng, depth: rng.int(0..<3))
        }
    }

    /// A random graph: random kinds, ids (empty, duplicated, odd characters), edges (self loops,
    /// cycles, dangling), connections, transforms and params (random JSON, deep nesting).
    static func graph(_ rng: inout FuzzRandom) -> PipelineDefinition {
        let count = rng.int(0..<12)
        let ids = (0..<count).map { i in rng.chance(0.1) ? rng.pick(["", "a", "\u{0}", "é", "/", String(repeating: "n", count: 300)]) : "n\(i)" }
        let transforms = ["map", "filter", "chunk", "embed", "formats/csv", "formats/jsonl", "nope", "", "a/b/c", "filesystem/files"]
        let nodes = ids.map { id -> PipelineDefinition.Node in
            let kind = rng.pick(PipelineDefinition.Kind.allCases)
            return PipelineDefinition.Node(
                id: id, kind: kind,
                connection: rng.chance(0.8) ? rng.pick(["files-in", "files-out", "pg", "bad", "ghost", "missing", ""]) : nil,
                transform: rng.chance(0.8) ? rng.pick(transforms) : nil,
                params: rng.chance(0.7) ? json(&rng, depth: rng.int(0..<(rng.chance(0.05) ? 400 : 6))) : nil,
                cases: rng.chance(0.5) ? (0..<rng.int(0..<4)).map { _ in
                    .init(port: rng.pick(["a", "b", "default", ""]), when: json(&rng, depth: rng.int(0..<5)))
                } : nil)
        }
        let edges = (0..<rng.int(0..<(count * 2 + 1))).map { _ in
            PipelineDefinition.Edge(from: ids.isEmpty || rng.chance(0.05) ? "ghost" : rng.pick(ids),
                                    to: ids.isEmpty || rng.chance(0.05) ? "ghost" : rng.pick(ids),
                                    port: rng.chance(0.3) ? rng.pick(["a", "b", "default", "x"]) : nil)
        }
        return PipelineDefinition(nodes: nodes, edges: edges)
    }

    /// Random JSON, biased towards the predicate and params vocabulary.
    static func json(_ rng: inout FuzzRandom, depth: Int) -> JSONValue {
        let words = ["where", "var", "==", "<", "and", "or", "not", "exists", "in", "contains", "extension", "contentType",
                     "category", "language", "size", "overlap", "by", "rename", "drop", "set", "model", "/a", "/", "~1", ""]
        if depth <= 0 {
            switch rng.int(0..<6) {
            case 0: return .null
            case 1: return .bool(rng.chance(0.5))
            case 2: return .number(rng.pick([0, -1, 1e308, -1e-308, Double(Int.max), 18, .greatestFiniteMagnitude]))
            default: return .string(rng.pick(words))
            }
        }
        // Deep values are chains (one child per level): nesting depth without exponential size.
        if depth > 6 {
            return rng.chance(0.5) ? .array([json(&rng, depth: depth - 1)]) : .object([rng.pick(words): json(&rng, depth: depth - 1)])
        }
        if rng.chance(0.5) {
            return .array((0..<rng.int(0..<3)).map { _ in json(&rng, depth: depth - 1) })
        }
        var object: [String: JSONValue] = [:]
        for _ in 0..<rng.int(1..<3) { object[rng.pick(words)] = json(&rng, depth: depth - 1) }
        return .object(object)
    }
}
