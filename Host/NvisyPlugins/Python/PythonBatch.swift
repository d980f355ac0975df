import CPython
import Foundation
import NvisyCore

/// A batch that a Python source or transform produced, as the host keeps it: the Python
/// objects themselves, and their ABI form for Swift readers.
///
/// The ABI form is what `_host.pack` made on the Python thread when the batch was pulled
/// (one JSON array of every item's metadata, the payloads, the resume tokens, the vectors),
/// so a Swift reader sees the items as they were when they left the provider, and an item
/// that cannot cross (metadata that is not JSON) fails the pull, as for any provider.
///
/// The Python objects (`objects`, a list) let the next *Python* provider take the items as
/// they are: ``PythonProviderInstance`` hands a sink or transform whose whole batch is
/// unchanged items of Python batches the objects themselves, with no JSON parse and no new
/// `Record`s (``pythonList(_:)``). The host still has every item's resume token, count and
/// fields, so checkpoints, routing and errors work as for any item.
///
/// `@unchecked Sendable`: every property but `metaRanges` and `handOn` (guarded by `lock`) is
/// set in `init` and only read afterwards; `objects` is a ``PyRef``, touched (and released) only on the
/// Python thread.
final class PythonBatch: @unchecked Sendable {
    /// The `list` of the items as the provider made them.
    let objects: PyRef
    let count: Int
    /// One JSON array of every item's metadata, cut into per-item slices on first read
    /// (`metaRanges`, under `lock`): a batch that only moves between Python providers is never cut.
    private let metas: Data
    private let lock = NSLock()
    private var metaRanges: [Range<Int>]?
    /// What to do once the batch is handed on to a Python provider (``PythonCursor`` reads
    /// further ahead then); run at most once.
    private var handOn: (@Sendable () -> Void)?
    /// Tokens joined by NUL (`tokenRanges` into `tokenBlock`), or one `Data` per item.
    private let tokenBlock: Data
    private let tokenRanges: [Range<Int>]
    private let tokenList: [Data]?
    private let payloads: [Data]?
    private let vectors: [[Float]?]?

    /// From the `(objects, metas, payloads, tokens, vectors)` tuple of `_host.Cursor.pull`
    /// (borrowed; runs on the Python thread).
    init(pulled packed: PyPtr, interpreter: PythonInterpreter, context: String) throws {
        guard nvisy_py_tuple_check(packed) != 0, nvisy_py_tuple_size(packed) == 5,
              let list = nvisy_py_tuple_get(packed, 0), nvisy_py_list_check(list) != 0 else {
            throw NvisyError.internal("\(context): the Python bridge returned an unexpected batch")
        }
        let metasObject = nvisy_py_tuple_get(packed, 1)!
        let payloadsObject = nvisy_py_tuple_get(packed, 2)!
        let tokensObject = nvisy_py_tuple_get(packed, 3)!
        let vectorsObject = nvisy_py_tuple_get(packed, 4)!
        let n = nvisy_py_list_size(list)

        // Tokens: one bytes joined by NUL (the records fast path), or a list of bytes.
        if nvisy_py_bytes_check(tokensObject) != 0 {
            tokenBlock = Py.data(tokensObject) ?? Data()
            tokenRanges = PythonItems.splitOnNUL(tokenBlock)
            tokenList = nil
        } else {
            tokenBlock = Data()
            tokenRanges = []
            tokenList = (0..<nvisy_py_list_size(tokensObject)).map { Py.data(nvisy_py_list_get(tokensObject, $0)!) ?? Data() }
        }
        guard (tokenList?.count ?? tokenRanges.count) == n else {
            throw NvisyError.internal("\(context): the Python bridge returned \(n) items with a different number of resume tokens")
        }
        guard let m = Py.data(metasObject), m.first == UInt8(ascii: "[") else {
            throw NvisyError.internal("\(context): the batch's metadata is not a JSON array")
        }
        metas = m

        if nvisy_py_is_none(payloadsObject) != 0 {  // records: every payload empty
            payloads = nil
        } else {
            var out: [Data] = []
            out.reserveCapacity(n)
            for i in 0..<n {
                let payload = nvisy_py_list_get(payloadsObject, i)!
                guard let d = Py.data(payload) else {
                    throw NvisyError(.unavailable, "\(context): item \(i): the payload is not bytes-like (\(PythonItems.typeName(payload)))",
                                     retry: .permanent)
                }
                out.append(d)
            }
            payloads = out
        }
        if nvisy_py_is_none(vectorsObject) != 0 {
            vectors = nil
        } else {
            vectors = (0..<n).map { i -> [Float]? in
                guard let v = nvisy_py_list_get(vectorsObject, i), nvisy_py_is_none(v) == 0 else { return nil }
                return Py.withBuffer(v) { Array($0.bindMemory(to: Float.self)) }
            }
        }
        count = n
        objects = PyRef(owning: Py.retained(list), in: interpreter)
    }

    /// Sets what ``handedOn()`` runs (replacing what was set before).
    func onHandOn(_ body: @escaping @Sendable () -> Void) {
        lock.withLock { handOn = body }
    }

    /// A Python provider's call with these items was just queued: runs the hook, once.
    func handedOn() {
        lock.withLock { () -> (@Sendable () -> Void)? in
            defer { handOn = nil }
            return handOn
        }?()
    }

    /// ``handedOn()`` for the batch of the first of `items` that is a Python item.
    static func handedOn(_ items: [ProviderItem]) {
        for item in items {
            if case .python(let b, _) = item.storage {
                b.handedOn()
                return
            }
        }
    }

    /// The batch's items, each a view of this batch by index.
    var items: [ProviderItem] { (0..<count).map { ProviderItem(self, $0) } }

    func metadata(_ i: Int) -> Data {
        let ranges = lock.withLock {
            if let r = metaRanges { return r }
            // `_host.pack` wrote this array with one element per item (orjson or the stdlib's
            // encoder: always well formed), so the cut cannot fail; if it ever did, the
            // items would read as `{}` rather than crash the host.
            let r = PythonItems.splitJSONArray(metas).flatMap { $0.count == count ? $0 : nil }
                ?? Array(repeating: 0..<0, count: count)
            metaRanges = r
            return r
        }
        let r = ranges[i]
        return r.isEmpty ? Data("{}".utf8) : metas[r]
    }

    func payload(_ i: Int) -> Data { payloads?[i] ?? Data() }

    func vector(_ i: Int) -> [Float]? { vectors?[i] ?? nil }

    func resumeToken(_ i: Int) -> Data {
        if let tokenList { return tokenList[i] }
        let r = tokenRanges[i]
        return r.isEmpty ? Data() : tokenBlock[r]
    }

    /// Runs of consecutive items of one batch (usually one run: a whole batch handed on).
    typealias Runs = [(batch: PythonBatch, range: Range<Int>)]

    /// When every item is an unchanged item of a Python batch of `interpreter`, their runs
    /// (for ``pythonList(_:)``, which hands them to a Python provider as they are); else nil.
    static func runs(_ items: [ProviderItem], in interpreter: PythonInterpreter) -> Runs? {
        var runs: Runs = []
        for item in items {
            guard case .python(let b, let k) = item.storage, b.objects.interpreter === interpreter else { return nil }
            if let last = runs.last, last.batch === b, last.range.upperBound == k {
                runs[runs.count - 1].range = last.range.lowerBound..<(k + 1)
            } else {
                runs.append((b, k..<(k + 1)))
            }
        }
        return runs.isEmpty ? nil : runs
    }

    /// A new `list` of the Python objects of `runs`, in order (one `list` slice per run).
    /// Runs on the Python thread.
    static func pythonList(_ runs: Runs) -> PyPtr {
        if runs.count == 1, let run = runs.first {
            return PyList_GetSlice(run.batch.objects.pointer, run.range.lowerBound, run.range.upperBound)!
        }
        let list = PyList_New(runs.reduce(0) { $0 + $1.range.count })!
        var i = 0
        for run in runs {
            for k in run.range {
                nvisy_py_list_set(list, i, Py.retained(nvisy_py_list_get(run.batch.objects.pointer, k)!))
                i += 1
            }
        }
        return list
    }
}
