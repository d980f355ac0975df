import CPython
import Foundation
import NvisyCore

/// Makes instances of one Python provider class.
struct PythonProviderFactory: ProviderFactory {
    let descriptor: ProviderDescriptor
    let cls: PyRef
    let interpreter: PythonInterpreter

    func makeInstance(config: JSONValue, credentials: JSONValue, options: ProviderCallOptions) async throws
        -> any ProviderInstance
    {
        let c = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        let k = String(decoding: try JSONEncoder().encode(credentials), as: UTF8.self)
        let cls = self.cls
        let interpreter = self.interpreter
        let ref = try await interpreter.call(
            "create", context: "\(descriptor.id): create", timeout: options.timeout,
            args: { _ in [Py.retained(cls.pointer), Py.string(c), Py.string(k)] },
            convert: { PyRefBox(PyRef(owning: Py.retained($0), in: interpreter)) })
        return PythonProviderInstance(descriptor: descriptor, object: ref.ref, interpreter: interpreter, options: options)
    }
}

/// A Python provider instance; the registry hands it out only as the kinds its descriptor says.
final class PythonProviderInstance: SourceInstance, SinkInstance, TransformInstance, EmbeddingInstance,
    CompletionInstance, @unchecked Sendable
{
    let descriptor: ProviderDescriptor
    let object: PyRef
    let interpreter: PythonInterpreter
    let options: ProviderCallOptions
    private let lock = NSLock()
    private var closed = false

    init(descriptor: ProviderDescriptor, object: PyRef, interpreter: PythonInterpreter, options: ProviderCallOptions) {
        self.descriptor = descriptor
        self.object = object
        self.interpreter = interpreter
        self.options = options
    }

    private func ensureOpen(_ kind: ProviderKind?, _ what: String) throws {
        if lock.withLock({ closed }) { throw NvisyError.internal("\(descriptor.id): the instance is closed") }
        if let kind, !descriptor.can(kind) {
            throw NvisyError.invalidInput(
                "\(descriptor.id) is a \(descriptor.kinds.map(\.rawValue).joined(separator: "/")) provider; it cannot \(what)")
        }
    }

    private func call<T: Sendable>(_ function: String, _ what: String, onToken: (@Sendable (String) -> Void)? = nil,
                                   queued: (@Sendable () -> Void)? = nil,
                                   args: @escaping @Sendable (Int) throws -> [PyPtr?],
                                   convert: @escaping @Sendable (PyPtr) throws -> T) async throws -> T {
        try await interpreter.call(function, context: "\(descriptor.id): \(what)", timeout: options.timeout, onToken: onToken,
                                   queued: queued, args: args, convert: convert)
    }

    func check() async throws {
        try ensureOpen(nil, "check")
        let o = object
        try await call("check", "check", args: { _ in [Py.retained(o.pointer)] }, convert: { _ in () })
    }

    func close() async {
        let first = lock.withLock {
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        let o = object
        _ = try? await interpreter.call("close", context: "\(descriptor.id): close", timeout: .seconds(10),
                                        args: { _ in [Py.retained(o.pointer)] }, convert: { _ in () })
    }

    func openCursor(after resumeToken: Data?) async throws -> any BatchCursor {
        try ensureOpen(.source, "read")
        let o = object
        let token = String(decoding: resumeToken ?? Data(), as: UTF8.self)
        let interpreter = self.interpreter
        let context = "\(descriptor.id): read"
        let cursor = try await interpreter.perform { () throws -> PyRefBox in
            let fn = PyObject_GetAttrString(interpreter.hostModule!, "open_read")!
            defer { nvisy_py_decref(fn) }
            return PyRefBox(PyRef(owning: try Py.call(fn, [Py.retained(o.pointer), Py.string(token)], context: context), in: interpreter))
        }
        return PythonCursor(instance: self, cursor: cursor.ref, what: "read")
    }

    func write(_ items: [ProviderItem]) async throws {
        try ensureOpen(.sink, "write")
        if items.isEmpty { return }
        let o = object
        // Once the write is queued, a Python cursor that made the items reads further ahead
        // (behind the write: see `PythonCursor`).
        let handedOn: @Sendable () -> Void = { PythonBatch.handedOn(items) }
        if let runs = PythonBatch.runs(items, in: interpreter) {  // items of Python providers: hand on the objects
            try await call("write_items", "write", queued: handedOn,
                           args: { _ in [Py.retained(o.pointer), PythonBatch.pythonList(runs)] }, convert: { _ in () })
            return
        }
        try await call("write", "write", queued: handedOn, args: { _ in [Py.retained(o.pointer)] + PythonItems.toPython(items) },
                       convert: { _ in () })
    }

    func transform(_ items: [ProviderItem]) async throws -> any BatchCursor {
        try ensureOpen(.transform, "transform")
        let o = object
        let interpreter = self.interpreter
        let context = "\(descriptor.id): transform"
        let runs = PythonBatch.runs(items, in: interpreter)  // items of Python providers: hand on the objects
        let cursor = try await interpreter.perform { () throws -> PyRefBox in
            let fn = PyObject_GetAttrString(interpreter.hostModule!, runs != nil ? "open_transform_items" : "open_transform")!
            defer { nvisy_py_decref(fn) }
            let args = [Py.retained(o.pointer)] + (runs.map { [PythonBatch.pythonList($0)] } ?? PythonItems.toPython(items))
            return PyRefBox(PyRef(owning: try Py.call(fn, args, context: context), in: interpreter))
        }
        return PythonCursor(instance: self, cursor: cursor.ref, what: "transform")
    }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        try ensureOpen(.embedding, "embed")
        let o = object
        return try await call("embed", "embed", args: { _ in
            let list = PyList_New(texts.count)!
            for (i, t) in texts.enumerated() { nvisy_py_list_set(list, i, Py.string(t)) }
            return [Py.retained(o.pointer), list]
        }, convert: { r in
            let count = Int(PyLong_AsLongLong(nvisy_py_tuple_get(r, 0)))
            let dims = Int(PyLong_AsLongLong(nvisy_py_tuple_get(r, 1)))
            let flat = Py.withBuffer(nvisy_py_tuple_get(r, 2)!) { Array($0.bindMemory(to: Float.self)) } ?? []
            guard flat.count == count * dims else { throw NvisyError.internal("embed: vector buffer has the wrong size") }
            return (0..<count).map { Array(flat[($0 * dims)..<(($0 + 1) * dims)]) }
        })
    }

    func complete(_ request: JSONValue, onToken: @escaping @Sendable (String) -> Void) async throws -> JSONValue {
        try ensureOpen(.completion, "complete")
        let o = object
        let body = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        let data = try await call("complete", "complete", onToken: onToken,
                                  args: { id in [Py.retained(o.pointer), Py.string(body), Py.int(id)] },
                                  convert: { Py.data($0) ?? Data() })
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw NvisyError(.unavailable, "\(descriptor.id): complete returned a response that is not JSON", retry: .permanent)
        }
    }
}
