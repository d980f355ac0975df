import CPython
import Foundation
import NvisyCore

/// Items between Swift and Python, a batch at a time (on the Python thread).
///
/// Out of Python (`_host.pack`, kept by ``PythonBatch``): one JSON array of every item's
/// metadata, split into per-item slices of one buffer; payloads, tokens and vectors as buffers.
/// Into Python, for items that are not already Python objects: the metadata joined into one
/// JSON array (parsed with one `orjson.loads`), the payloads and tokens in one `bytes` object
/// that Python slices into memoryviews, and their offsets as int64s.
enum PythonItems {
    /// The ranges between NUL bytes: `n - 1` NULs make `n` pieces (an empty `data` is one empty piece).
    static func splitOnNUL(_ data: Data) -> [Range<Int>] {
        data.withUnsafeBytes { raw in
            var ranges: [Range<Int>] = []
            var start = 0
            for (i, c) in raw.enumerated() where c == 0 {
                ranges.append((data.startIndex + start)..<(data.startIndex + i))
                start = i + 1
            }
            ranges.append((data.startIndex + start)..<(data.startIndex + raw.count))
            return ranges
        }
    }

    /// `(metas, blob, offsets, vectors)` for `_host._unpack`: four new references.
    ///
    /// Fast path (records): when no item has a payload or a vector and no resume token holds
    /// a NUL, `blob` is the tokens joined by NUL and `offsets` is None; Python splits it once.
    static func toPython(_ items: [ProviderItem]) -> [PyPtr?] {
        var metaCount = 2 + max(0, items.count - 1)
        var blobCount = 0
        var anyVector = false
        var joinable = true
        // Read once: an item made with parsed metadata encodes it on each read.
        let itemMetas = items.map(\.metadata)
        for (item, m) in zip(items, itemMetas) {
            let p = item.payload, t = item.resumeToken
            metaCount += m.isEmpty ? 2 : m.count
            blobCount += p.count + t.count
            if item.vector != nil { anyVector = true }
            if joinable, !p.isEmpty || t.withUnsafeBytes({ $0.firstIndex(of: 0) != nil }) { joinable = false }
        }
        let metas = Py.bytes(count: metaCount) { dst in
            let p = dst.assumingMemoryBound(to: UInt8.self)
            var o = 0
            p[o] = UInt8(ascii: "["); o += 1
            for (i, m) in itemMetas.enumerated() {
                if i > 0 { p[o] = UInt8(ascii: ","); o += 1 }
                if m.isEmpty {
                    p[o] = UInt8(ascii: "{"); p[o + 1] = UInt8(ascii: "}"); o += 2
                } else {
                    m.withUnsafeBytes { (dst + o).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                    o += m.count
                }
            }
            p[o] = UInt8(ascii: "]")
        }
        if joinable, !anyVector, !items.isEmpty {
            let blob = Py.bytes(count: blobCount + items.count - 1) { dst in
                var o = 0
                for (i, item) in items.enumerated() {
                    if i > 0 { dst.storeBytes(of: 0, toByteOffset: o, as: UInt8.self); o += 1 }
                    item.resumeToken.withUnsafeBytes { if $0.count > 0 { (dst + o).copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
                    o += item.resumeToken.count
                }
            }
            return [metas, blob, nil, nil]
        }
        var offsets = [Int64](repeating: 0, count: items.count * 4)
        let blob = Py.bytes(count: blobCount) { dst in
            var o = 0
            for (i, item) in items.enumerated() {
                offsets[4 * i] = Int64(o)
                item.payload.withUnsafeBytes { if $0.count > 0 { (dst + o).copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
                o += item.payload.count
                offsets[4 * i + 1] = Int64(o)
                offsets[4 * i + 2] = Int64(o)
                item.resumeToken.withUnsafeBytes { if $0.count > 0 { (dst + o).copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
                o += item.resumeToken.count
                offsets[4 * i + 3] = Int64(o)
            }
        }
        let offs = offsets.withUnsafeBytes { b in Py.bytes(count: b.count) { $0.copyMemory(from: b.baseAddress!, byteCount: b.count) } }
        var vectors: PyPtr? = nil
        if anyVector {
            let list = PyList_New(items.count)!
            for (i, item) in items.enumerated() {
                if let v = item.vector {
                    let floats = v.map { PyFloat_FromDouble(Double($0)) }
                    let l = PyList_New(v.count)!
                    for (j, f) in floats.enumerated() { nvisy_py_list_set(l, j, f) }
                    nvisy_py_list_set(list, i, l)
                } else {
                    nvisy_py_list_set(list, i, nvisy_py_none())
                }
            }
            vectors = list
        }
        return [metas, blob, offs, vectors]
    }

    static func typeName(_ o: PyPtr) -> String {
        guard let t = PyObject_Type(o) else { return "?" }
        defer { nvisy_py_decref(t) }
        guard let n = PyObject_GetAttrString(t, "__name__") else { PyErr_Clear(); return "?" }
        defer { nvisy_py_decref(n) }
        return Py.text(n) ?? "?"
    }

    /// The byte ranges of the elements of a JSON array (compact or not). nil if `data` is not an array.
    static func splitJSONArray(_ data: Data) -> [Range<Int>]? {
        data.withUnsafeBytes { raw -> [Range<Int>]? in
            let p = raw.bindMemory(to: UInt8.self)
            let base = data.startIndex
            var ranges: [Range<Int>] = []
            var depth = 0, inString = false, escaped = false
            var start = -1, end = -1
            for i in 0..<p.count {
                let c = p[i]
                if inString {
                    if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false; end = i + 1 }
                    continue
                }
                switch c {
                case 0x20, 0x0A, 0x0D, 0x09: continue
                case 0x22:
                    inString = true
                    if depth == 1 && start < 0 { start = i }
                case 0x5B, 0x7B:  // [ {
                    if depth == 1 && start < 0 { start = i }
                    depth += 1
                case 0x5D, 0x7D:  // ] }
                    depth -= 1
                    if depth == 0 {
                        if start >= 0 { ranges.append((base + start)..<(base + end)) }
                        return ranges
                    }
                    end = i + 1
                case 0x2C where depth == 1:
                    guard start >= 0 else { return nil }
                    ranges.append((base + start)..<(base + end))
                    start = -1
                default:
                    if depth == 0 { return nil }
                    if depth == 1 && start < 0 { start = i }
                    end = i + 1
                }
            }
            return nil
        }
    }
}
