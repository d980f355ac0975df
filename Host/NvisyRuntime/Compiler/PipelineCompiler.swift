import NvisyCore
import NvisyPlugins

/// Checks a ``PipelineDefinition`` and turns it into an ``ExecutionPlan``.
///
/// It reports **every** problem at once (``PipelineCompileError``), each with the node id
/// and a JSON pointer into the definition: unknown nodes in edges, cycles (naming their
/// nodes), sources with inputs, sinks with outputs, nodes unreachable from a source, data
/// types that do not match along an edge, providers missing or disabled, configs failing
/// their provider's schema, switch ports without an edge.
///
/// ```swift
/// let compiler = PipelineCompiler(host: pluginHost, connections: resolver)
/// let plan = try await compiler.compile(definition)      // throws PipelineCompileError
/// let problems = await compiler.problems(in: definition) // [] when it compiles (POST …/validate)
/// ```
public struct PipelineCompiler: Sendable {
    public var host: PluginHost
    public var connections: any ConnectionResolver
    public var builtins: BuiltinTransformCatalog

    public init(host: PluginHost, connections: any ConnectionResolver, builtins: BuiltinTransformCatalog = .standard) {
        self.host = host
        self.connections = connections
        self.builtins = builtins
    }

    /// Every problem in `definition`; empty when it compiles.
    public func problems(in definition: PipelineDefinition) async throws -> [PipelineProblem] {
        do {
            _ = try await compile(definition)
            return []
        } catch let e as PipelineCompileError {
            return e.problems
        }
    }

    /// The plan, or ``PipelineCompileError`` with every problem. Other errors: the connection
    /// lookup itself failed.
    public func compile(_ definition: PipelineDefinition) async throws -> ExecutionPlan {
        var problems: [PipelineProblem] = []
        func add(_ code: PipelineProblem.Code, _ node: String?, _ pointer: String, _ message: String) {
            problems.append(PipelineProblem(code, node: node, pointer: pointer, message))
        }
        let nodes = definition.nodes, edges = definition.edges

        // Nodes and their ids.
        if nodes.isEmpty { add(.empty, nil, "/nodes", "a pipeline needs at least one source and one sink") }
        var index: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            if n.id.isEmpty { add(.duplicateNode, nil, "/nodes/\(i)/id", "a node needs a non-empty id"); continue }
            if let first = index[n.id] {
                add(.duplicateNode, n.id, "/nodes/\(i)/id", "node id \"\(n.id)\" is also used by /nodes/\(first); ids must be unique")
            } else { index[n.id] = i }
        }
        if !nodes.isEmpty {
            if !nodes.contains(where: { $0.kind == .source }) { add(.empty, nil, "/nodes", "the pipeline has no source node") }
            if !nodes.contains(where: { $0.kind == .sink }) { add(.empty, nil, "/nodes", "the pipeline has no sink node") }
        }

        // Fields per kind, switch cases.
        var switchCases: [Int: [(port: String, predicate: Predicate)]] = [:]
        for (i, n) in nodes.enumerated() {
            let at = "/nodes/\(i)"
            switch n.kind {
            case .source, .sink:
                if n.connection?.isEmpty ?? true { add(.invalidNode, n.id, "\(at)/connection", "a \(n.kind.rawValue) needs a connection (the id of a connection in this workspace)") }
                if n.transform != nil { add(.invalidNode, n.id, "\(at)/transform", "only transform nodes name a transform") }
                if n.cases != nil { add(.invalidNode, n.id, "\(at)/cases", "only switch nodes have cases") }
            case .transform:
                if n.transform?.isEmpty ?? true { add(.invalidNode, n.id, "\(at)/transform", "a transform needs `transform`: a built-in (map, filter, chunk) or a provider such as formats/csv") }
                if n.connection != nil { add(.invalidNode, n.id, "\(at)/connection", "transforms take `params`, not a connection") }
                if n.cases != nil { add(.invalidNode, n.id, "\(at)/cases", "only switch nodes have cases") }
            case .switch:
                if n.connection != nil { add(.invalidNode, n.id, "\(at)/connection", "a switch takes `cases`, not a connection") }
                if n.transform != nil { add(.invalidNode, n.id, "\(at)/transform", "only transform nodes name a transform") }
                guard let cases = n.cases, !cases.isEmpty else {
                    add(.invalidNode, n.id, "\(at)/cases", "a switch needs cases: [{port, when}]")
                    continue
                }
                var ports: Set<String> = []
                var parsed: [(String, Predicate)] = []
                for (j, c) in cases.enumerated() {
                    if c.port.isEmpty || c.port == "default" {
                        add(.invalidNode, n.id, "\(at)/cases/\(j)/port", "a case needs a port name other than \"default\" (items that match no case leave through \"default\")")
                    } else if !ports.insert(c.port).inserted {
                        add(.invalidNode, n.id, "\(at)/cases/\(j)/port", "port \"\(c.port)\" is used by an earlier case")
                    }
                    switch Predicate.parse(c.when, at: "\(at)/cases/\(j)/when") {
                    case .success(let p): parsed.append((c.port, p))
                    case .failure(let e): for (p, m) in e.errors { add(.invalidConfig, n.id, p, m) }
                    }
                }
                switchCases[i] = parsed
            }
        }

        // Edges.
        var succ = Array(repeating: [Int](), count: nodes.count), pred = Array(repeating: [Int](), count: nodes.count)
        var edgeIndex: [Int: [Int]] = [:]  // target node → edges into it
        var validEdges: [(Int, Int, Int)] = []  // (edge, from, to)
        for (k, e) in edges.enumerated() {
            let f = index[e.from], t = index[e.to]
            if f == nil { add(.unknownNode, nil, "/edges/\(k)/from", "no node \"\(e.from)\"; edges name node ids") }
            if t == nil { add(.unknownNode, nil, "/edges/\(k)/to", "no node \"\(e.to)\"; edges name node ids") }
            guard let f, let t else { continue }
            if nodes[f].kind == .switch {
                let ports = Set((nodes[f].cases ?? []).map(\.port)).union(["default"])
                if let p = e.port {
                    if !ports.contains(p) {
                        add(.switchPort, e.from, "/edges/\(k)/port", "switch \"\(e.from)\" has no port \"\(p)\" (it has: \(ports.sorted().joined(separator: ", ")))")
                    }
                } else {
                    add(.switchPort, e.from, "/edges/\(k)/port", "an edge out of switch \"\(e.from)\" names its port (a case's port or \"default\")")
                }
            } else if e.port != nil {
                add(.switchPort, e.from, "/edges/\(k)/port", "only edges out of a switch have a port")
            }
            succ[f].append(t)
            pred[t].append(f)
            edgeIndex[t, default: []].append(k)
            validEdges.append((k, f, t))
        }

        // Degrees.
        for (i, n) in nodes.enumerated() {
            let at = "/nodes/\(i)"
            switch n.kind {
            case .source:
                if !pred[i].isEmpty { add(.sourceWithInputs, n.id, at, "a source has no inputs, but edges lead into \"\(n.id)\" from \(names(pred[i], nodes))") }
                if succ[i].isEmpty { add(.missingOutput, n.id, at, "source \"\(n.id)\" is connected to nothing; add an edge from it") }
            case .sink:
                if !succ[i].isEmpty { add(.sinkWithOutputs, n.id, at, "a sink has no outputs, but edges lead from \"\(n.id)\" to \(names(succ[i], nodes))") }
                if pred[i].isEmpty { add(.missingInput, n.id, at, "sink \"\(n.id)\" has no input; add an edge into it") }
            case .transform, .switch:
                if pred[i].isEmpty { add(.missingInput, n.id, at, "\(n.kind.rawValue) \"\(n.id)\" has no input; add an edge into it") }
                if succ[i].isEmpty, n.kind == .transform { add(.missingOutput, n.id, at, "transform \"\(n.id)\" is connected to nothing; its items would be lost") }
            }
            if n.kind == .switch, let cases = n.cases {
                let used = Set(edges.filter { $0.from == n.id }.compactMap(\.port))
                for (j, c) in cases.enumerated() where !c.port.isEmpty && !used.contains(c.port) {
                    add(.switchPort, n.id, "\(at)/cases/\(j)/port", "port \"\(c.port)\" of switch \"\(n.id)\" is not connected; add an edge {from: \"\(n.id)\", to: …, port: \"\(c.port)\"}")
                }
            }
        }

        // Cycles: every strongly connected component with more than one node, or a self-loop.
        let cycles = Self.cycles(succ)
        for cycle in cycles {
            let ids = cycle.map { nodes[$0].id }
            add(.cycle, ids[0], "/nodes/\(cycle[0])", "cycle: \((ids + [ids[0]]).joined(separator: " → ")); a pipeline is a DAG")
        }

        // Reachability from sources.
        var reached = Array(repeating: false, count: nodes.count)
        var stack = nodes.indices.filter { nodes[$0].kind == .source && index[nodes[$0].id] == $0 }
        for s in stack { reached[s] = true }
        while let i = stack.popLast() {
            for j in succ[i] where !reached[j] { reached[j] = true; stack.append(j) }
        }
        for (i, n) in nodes.enumerated() where !reached[i] && n.kind != .source && index[n.id] == i && !pred[i].isEmpty {
            add(.unreachable, n.id, "/nodes/\(i)", "no source reaches \"\(n.id)\"")
        }

        // Providers, configs, built-ins.
        var operations: [Int: ExecutionPlan.Operation] = [:]
        var inAccepts: [Int: Set<ProviderDataType>?] = [:]   // nil: any
        var outType: [Int: ProviderDataType?] = [:]          // nil: same as input
        for (i, n) in nodes.enumerated() where index[n.id] == i {
            let at = "/nodes/\(i)"
            switch n.kind {
            case .source, .sink:
                guard let cid = n.connection, !cid.isEmpty else { continue }
                guard let conn = try await connections.resolve(cid) else {
                    add(.unknownConnection, n.id, "\(at)/connection", "no connection \"\(cid)\" in this workspace")
                    continue
                }
                let kind: ProviderKind = n.kind == .source ? .source : .sink
                guard let d = await provider(conn.provider, kind, n.id, "\(at)/connection", &problems) else { continue }
                do {
                    let config = try await host.validate(conn.provider, config: conn.config, credentials: conn.credentials)
                    operations[i] = n.kind == .source
                        ? .source(provider: d.id, config: config, credentials: conn.credentials)
                        : .sink(provider: d.id, config: config, credentials: conn.credentials)
                } catch let e as NvisyError {
                    for f in e.fieldErrors.isEmpty ? [NvisyError.FieldError(pointer: "", message: e.message)] : e.fieldErrors {
                        add(.invalidConfig, n.id, "\(at)/connection", "connection \"\(cid)\" (\(d.id)) \(f.pointer): \(f.message)")
                    }
                }
                if n.kind == .source { outType[i] = d.dataType } else { inAccepts[i] = [d.dataType]; outType[i] = d.dataType }
            case .transform:
                guard let name = n.transform, !name.isEmpty else { continue }
                if let spec = builtins.specs[name] {
                    inAccepts[i] = .some(spec.accepts)
                    outType[i] = .some(spec.produces)
                    let ctx = BuiltinContext(host: host, connections: connections, pointer: "\(at)/params")
                    switch await spec.make(n.params ?? .null, ctx) {
                    case .success(let t): operations[i] = .builtin(name: name, transform: t)
                    case .failure(let e): for (p, m) in e.errors { add(.invalidConfig, n.id, "\(at)/params\(p)", "\(name): \(m)") }
                    }
                } else if let why = builtins.reserved[name] {
                    add(.providerUnavailable, n.id, "\(at)/transform", why)
                } else if name.contains("/") {
                    guard let d = await provider(name, .transform, n.id, "\(at)/transform", &problems) else { continue }
                    inAccepts[i] = [d.inputDataType]
                    outType[i] = d.dataType
                    do {
                        let config = try await host.validate(name, config: n.params ?? [:])
                        operations[i] = .providerTransform(provider: name, config: config)
                    } catch let e as NvisyError {
                        for f in e.fieldErrors.isEmpty ? [NvisyError.FieldError(pointer: "", message: e.message)] : e.fieldErrors {
                            let rel = f.pointer.hasPrefix("/config") ? String(f.pointer.dropFirst("/config".count)) : ""
                            add(.invalidConfig, n.id, "\(at)/params\(rel)", "\(name): \(f.message)")
                        }
                    }
                } else {
                    let known = (builtins.specs.keys.sorted()).joined(separator: ", ")
                    add(.providerUnavailable, n.id, "\(at)/transform", "no built-in transform \"\(name)\" (built-ins: \(known)); a provider is named plugin/provider")
                }
            case .switch:
                inAccepts[i] = .some(nil)
                outType[i] = .some(nil)
                if let c = switchCases[i] { operations[i] = .switch(cases: c) }
            }
        }

        // Topological order (Kahn, stable by position) and data types along edges.
        var order: [Int] = []
        if cycles.isEmpty {
            var indeg = pred.map(\.count)
            var ready = nodes.indices.filter { indeg[$0] == 0 && index[nodes[$0].id] == $0 }
            while !ready.isEmpty {
                let i = ready.removeFirst()
                order.append(i)
                for j in succ[i] {
                    indeg[j] -= 1
                    if indeg[j] == 0 { ready.append(j) }
                }
            }
            var produced: [Int: ProviderDataType] = [:]
            var received: [Int: ProviderDataType] = [:]
            for i in order {
                let n = nodes[i]
                var input: ProviderDataType?
                for k in edgeIndex[i] ?? [] {
                    guard let f = index[edges[k].from], let t = produced[f] else { continue }
                    if let accepts = inAccepts[i] ?? nil, !accepts.contains(t) {
                        let want = accepts.map(\.rawValue).sorted().joined(separator: " or ")
                        add(.typeMismatch, n.id, "/edges/\(k)", "edge \(edges[k].from) → \(n.id) carries \(t.rawValue) items but \(describe(n)) takes \(want)\(Self.hint(from: t, to: accepts))")
                        continue
                    }
                    if let other = input, other != t {
                        add(.typeMismatch, n.id, "/edges/\(k)", "edge \(edges[k].from) → \(n.id) carries \(t.rawValue) items but \(n.id)'s other inputs carry \(other.rawValue); a node takes one data type")
                        continue
                    }
                    input = t
                }
                received[i] = input
                switch outType[i] {
                case .some(.some(let t)): produced[i] = t
                case .some(.none): if let input { produced[i] = input }
                case .none: break
                }
            }
            if problems.isEmpty {
                let steps = order.map { i -> ExecutionPlan.Step in
                    let n = nodes[i]
                    let outs = validEdges.filter { $0.1 == i }.map { ExecutionPlan.Output(port: edges[$0.0].port, to: nodes[$0.2].id) }
                    return ExecutionPlan.Step(id: n.id, kind: n.kind, operation: operations[i]!, inputType: received[i],
                                              outputType: produced[i] ?? received[i] ?? .record,
                                              inputs: pred[i].map { nodes[$0].id }, outputs: outs)
                }
                return ExecutionPlan(definition: definition, steps: steps)
            }
        }
        throw PipelineCompileError(problems: problems)
    }

    private func describe(_ n: PipelineDefinition.Node) -> String {
        switch n.kind {
        case .transform: "transform \"\(n.id)\" (\(n.transform ?? ""))"
        default: "\(n.kind.rawValue) \"\(n.id)\""
        }
    }

    static func hint(from: ProviderDataType, to: Set<ProviderDataType>) -> String {
        switch (from, to.count == 1 ? to.first : nil) {
        case (.object, .record): "; add a transform between them, e.g. formats/csv or formats/jsonl"
        case (.object, .document): "; add a transform between them, e.g. documents/partition"
        case (.record, .object): "; add a transform between them, e.g. formats/jsonl-encode"
        default: "; add a transform that turns \(from.rawValue) into \(to.map(\.rawValue).sorted().joined(separator: "/"))"
        }
    }

    private func provider(_ id: String, _ kind: ProviderKind, _ node: String, _ pointer: String,
                          _ problems: inout [PipelineProblem]) async -> ProviderDescriptor? {
        do {
            let d = try await host.provider(id)
            guard d.can(kind) else {
                problems.append(PipelineProblem(.providerUnavailable, node: node, pointer: pointer,
                    "provider \(id) is a \(d.kinds.map(\.rawValue).joined(separator: "/")) provider; it cannot be a \(kind.rawValue)"))
                return nil
            }
            return d
        } catch {
            problems.append(PipelineProblem(.providerUnavailable, node: node, pointer: pointer, "\(error)"))
            return nil
        }
    }

    private func names(_ ids: [Int], _ nodes: [PipelineDefinition.Node]) -> String {
        ids.map { "\"\(nodes[$0].id)\"" }.joined(separator: ", ")
    }

    /// The cycles of a graph: one per strongly connected component that has a cycle, as the
    /// nodes along one cycle in it, starting from its lowest index (Tarjan, iterative).
    static func cycles(_ succ: [[Int]]) -> [[Int]] {
        let n = succ.count
        var indexOf = Array(repeating: -1, count: n), low = Array(repeating: 0, count: n)
        var onStack = Array(repeating: false, count: n), stack: [Int] = [], counter = 0
        var components: [[Int]] = []
        for root in 0..<n where indexOf[root] < 0 {
            var work: [(Int, Int)] = [(root, 0)]
            indexOf[root] = counter; low[root] = counter; counter += 1
            stack.append(root); onStack[root] = true
            while let (v, next) = work.last {
                if next < succ[v].count {
                    work[work.count - 1].1 += 1
                    let w = succ[v][next]
                    if indexOf[w] < 0 {
                        indexOf[w] = counter; low[w] = counter; counter += 1
                        stack.append(w); onStack[w] = true
                        work.append((w, 0))
                    } else if onStack[w] {
                        low[v] = min(low[v], indexOf[w])
                    }
                } else {
                    work.removeLast()
                    if let (parent, _) = work.last { low[parent] = min(low[parent], low[v]) }
                    if low[v] == indexOf[v] {
                        var comp: [Int] = []
                        while let w = stack.popLast() {
                            onStack[w] = false
                            comp.append(w)
                            if w == v { break }
                        }
                        if comp.count > 1 || succ[v].contains(v) { components.append(comp) }
                    }
                }
            }
        }
        // One cycle through each component: BFS inside it from its lowest node back to itself.
        return components.map { comp in
            let members = Set(comp)
            let start = comp.min()!
            if succ[start].contains(start) { return [start] }
            var parent: [Int: Int] = [:]
            var queue = [start], head = 0
            var last: Int?
            search: while head < queue.count {
                let v = queue[head]; head += 1
                for w in succ[v] where members.contains(w) {
                    if w == start { last = v; break search }
                    if parent[w] == nil { parent[w] = v; queue.append(w) }
                }
            }
            var path: [Int] = []
            var v = last ?? start
            while v != start { path.append(v); v = parent[v]! }
            return [start] + path.reversed()
        }.sorted { $0[0] < $1[0] }
    }
}
