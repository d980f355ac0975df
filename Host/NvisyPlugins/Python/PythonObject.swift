import CPython
import Foundation
import NvisyCore

/// A pointer to a Python object.
typealias PyPtr = UnsafeMutablePointer<PyObject>

/// An owned reference to a Python object that Swift keeps between calls. It is released
/// on the Python thread (the only thread that touches Python), whoever drops it last, with
/// the next batch of work that thread does (``PythonInterpreter/release(_:)``).
final class PyRef: @unchecked Sendable {
    let pointer: PyPtr
    let interpreter: PythonInterpreter

    /// Takes ownership of a new reference.
    init(owning pointer: PyPtr, in interpreter: PythonInterpreter) {
        self.pointer = pointer
        self.interpreter = interpreter
    }

    deinit { interpreter.release(pointer) }
}

/// Moves a pointer into a job that runs on the Python thread.
struct UnsafeSendablePointer: @unchecked Sendable {
    let pointer: PyPtr
    init(_ pointer: PyPtr) { self.pointer = pointer }
}

/// Helpers for the C API; every one of them runs on the Python thread with the GIL held.
enum Py {
    /// A new tuple that steals the given new references (nil entries become None).
    static func tuple(_ items: [PyPtr?]) -> PyPtr {
        let t = PyTuple_New(items.count)!
        for (i, item) in items.enumerated() { nvisy_py_tuple_set(t, i, item ?? nvisy_py_none()) }
        return t
    }

    static func string(_ s: String) -> PyPtr {
        var s = s
        return s.withUTF8 { b in
            PyUnicode_DecodeUTF8(b.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, b.count,
                                 "surrogateescape")!
        }
    }

    static func int(_ v: Int) -> PyPtr { PyLong_FromLongLong(Int64(v))! }
    static func double(_ v: Double) -> PyPtr { PyFloat_FromDouble(v)! }

    /// A new reference to `o`, for tuples that steal.
    static func retained(_ o: PyPtr) -> PyPtr {
        nvisy_py_incref(o)
        return o
    }

    /// A `bytes` object of `count` bytes that `fill` writes.
    static func bytes(count: Int, _ fill: (UnsafeMutableRawPointer) -> Void) -> PyPtr {
        let b = PyBytes_FromStringAndSize(nil, count)!
        if count > 0 { fill(UnsafeMutableRawPointer(nvisy_py_bytes_data(b))) }
        return b
    }

    static func bytes(_ data: Data) -> PyPtr {
        bytes(count: data.count) { dst in data.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress!, byteCount: data.count) } }
    }

    /// Swift text of a str object (nil if it is not one).
    static func text(_ o: PyPtr) -> String? {
        guard nvisy_py_unicode_check(o) != 0 else { return nil }
        var size = 0
        guard let p = PyUnicode_AsUTF8AndSize(o, &size) else {
            PyErr_Clear()
            return nil
        }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: size), as: UTF8.self)
    }

    /// The bytes of any object with the buffer protocol (bytes, bytearray, memoryview, array).
    static func withBuffer<T>(_ o: PyPtr, _ body: (UnsafeRawBufferPointer) -> T) -> T? {
        if nvisy_py_bytes_check(o) != 0 {
            return body(UnsafeRawBufferPointer(start: nvisy_py_bytes_data(o), count: nvisy_py_bytes_size(o)))
        }
        var view = Py_buffer()
        guard PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) == 0 else {
            PyErr_Clear()
            return nil
        }
        defer { PyBuffer_Release(&view) }
        return body(UnsafeRawBufferPointer(start: view.buf, count: view.len))
    }

    static func data(_ o: PyPtr) -> Data? {
        withBuffer(o) { $0.count == 0 ? Data() : Data($0) }
    }

    /// Calls `callable(*args)`; `args` are new references (stolen). Answers a new reference,
    /// or throws the Python exception (cleared) as an ``NvisyError``.
    static func call(_ callable: PyPtr, _ args: [PyPtr?], context: String) throws -> PyPtr {
        let t = tuple(args)
        defer { nvisy_py_decref(t) }
        guard let r = PyObject_Call(callable, t, nil) else { throw currentError(context) }
        return r
    }

    /// The pending Python exception as an ``NvisyError`` (and clears it).
    static func currentError(_ context: String) -> NvisyError {
        var type: PyPtr? = nil, value: PyPtr? = nil, tb: PyPtr? = nil
        PyErr_Fetch(&type, &value, &tb)
        guard type != nil else { return NvisyError.internal("\(context): failed without a Python exception") }
        PyErr_NormalizeException(&type, &value, &tb)
        defer { nvisy_py_xdecref(type); nvisy_py_xdecref(value); nvisy_py_xdecref(tb) }
        if let value, let tb { PyException_SetTraceback(value, tb) }
        if let value, let host = PythonInterpreter.current?.hostModule,
           let describe = PyObject_GetAttrString(host, "describe_error") {
            defer { nvisy_py_decref(describe) }
            if let r = PyObject_CallOneArg(describe, value) {
                defer { nvisy_py_decref(r) }
                return PythonError.error(from: r, context: context)
            }
            PyErr_Clear()
        }
        var text = "unknown Python error"
        if let value, let s = PyObject_Str(value) {
            text = Py.text(s) ?? text
            nvisy_py_decref(s)
        }
        PyErr_Clear()
        return NvisyError(.unavailable, "\(context): \(text)", retry: .permanent)
    }
}

/// How a Python failure `(retry class, message)` maps to an ``NvisyError``.
enum PythonError {
    static func error(kind: String, message: String, context: String) -> NvisyError {
        let text = "\(context): \(message)"
        switch kind {
        case "transient": return NvisyError(.unavailable, text, retry: .transient)
        case "timeout": return NvisyError(.unavailable, text, retry: .transient)
        case "invalid-config": return NvisyError(.invalidInput, text, retry: .permanent)
        case "unauthorized": return NvisyError(.unauthorized, text, retry: .permanent)
        case "import": return NvisyError(.invalidInput, text, retry: .permanent)
        default: return NvisyError(.unavailable, text, retry: .permanent)
        }
    }

    /// From the `(kind, message)` tuple of `_host.describe_error`.
    static func error(from tuple: PyPtr, context: String) -> NvisyError {
        guard nvisy_py_tuple_check(tuple) != 0, nvisy_py_tuple_size(tuple) == 2 else {
            return NvisyError(.unavailable, "\(context): failed (no description)", retry: .permanent)
        }
        let kind = Py.text(nvisy_py_tuple_get(tuple, 0)!) ?? "permanent"
        let message = Py.text(nvisy_py_tuple_get(tuple, 1)!) ?? "failed"
        return error(kind: kind, message: message, context: context)
    }
}
