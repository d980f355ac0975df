import Foundation
import NvisyCore
import NvisyPlugins

/// `chunk`: documents → chunks of their text.
///
/// `params`: `{"size": 1000, "overlap": 100, "by": "characters" | "section" | "page"}`.
/// The text is the payload (UTF-8), as `documents/partition` makes it. `characters` cuts
/// windows of `size` characters (Unicode scalars) that overlap by `overlap`; `section` and
/// `page` cut along the ranges in `metadata.sections` / `metadata.pages` (`start`, `end`),
/// windowing a range longer than `size` the same way (no ranges: like `characters`).
/// Each chunk keeps the document's metadata (without `sections`/`pages`) plus
/// `chunk: {index, start, end, count}` — `count` is how many chunks the document made, so a sink
/// knows when a document is complete — and, when the document had them, `page` (the number of
/// the page the chunk starts on) and `section` (the heading path at its start, `A > B`); the
/// resume token is `<document token>#c<index>`.
public struct ChunkTransform: BuiltinTransform {
    public enum Mode: String, Sendable { case characters, section, page }
    public var size: Int
    public var overlap: Int
    public var mode: Mode

    public static let spec = BuiltinTransformSpec(name: "chunk", accepts: [.document], produces: .document) { params, _ in
        parse(params)
    }

    static func parse(_ params: JSONValue) -> Result<any BuiltinTransform, BuiltinParamErrors> {
        let o = params.objectValue ?? [:]
        if params != .null, params.objectValue == nil { return .failure(BuiltinParamErrors("", "chunk takes {\"size\", \"overlap\", \"by\"}")) }
        var errors: [(String, String)] = o.keys.filter { !["size", "overlap", "by"].contains($0) }.map { ("/\($0)", "unknown key; chunk takes size, overlap and by") }
        func int(_ k: String, _ d: Int) -> Int {
            guard let v = o[k] else { return d }
            guard let n = v.doubleValue, n == n.rounded(), n >= 0, n < 10_000_000 else {
                errors.append(("/\(k)", "\(k) is a whole number of characters")); return d
            }
            return Int(n)
        }
        let size = int("size", 1000), overlap = int("overlap", 0)
        if size < 1 { errors.append(("/size", "size must be at least 1")) }
        if overlap >= size, size >= 1 { errors.append(("/overlap", "overlap must be smaller than size (\(size))")) }
        var mode = Mode.characters
        if let by = o["by"] {
            if let m = by.stringValue.flatMap(Mode.init(rawValue:)) { mode = m }
            else { errors.append(("/by", "by is \"characters\", \"section\" or \"page\"")) }
        }
        return errors.isEmpty ? .success(ChunkTransform(size: size, overlap: overlap, mode: mode)) : .failure(BuiltinParamErrors(errors))
    }

    public func apply(_ items: [ProviderItem]) async -> [Result<[ProviderItem], NvisyError>] {
        items.map { item in Result { () throws(NvisyError) -> [ProviderItem] in try chunk(item) } }
    }

    func chunk(_ item: ProviderItem) throws(NvisyError) -> [ProviderItem] {
        var meta = try item.jsonMetadata()
        guard case .object = meta else { throw NvisyError.invalidInput("chunk: item \(item.resumeTokenString) metadata is not an object") }
        // The text's UTF-8 (repaired, as String decodes it) and where each scalar starts in it:
        // a chunk is then one slice of bytes, not a string built scalar by scalar.
        let utf8 = Array(String(decoding: item.payload, as: UTF8.self).utf8)
        var starts: [Int] = []
        starts.reserveCapacity(utf8.count + 1)
        for (i, b) in utf8.enumerated() where b & 0xC0 != 0x80 { starts.append(i) }
        let scalarCount = starts.count
        starts.append(utf8.count)
        var ranges: [Range<Int>] = []
        let key = mode == .section ? "sections" : "pages"
        if mode != .characters, let list = meta[key]?.arrayValue {
            for r in list {
                guard let s = r["start"]?.doubleValue else { continue }
                let start = max(0, min(scalarCount, Int(s)))
                let end = r["end"]?.doubleValue.map { max(start, min(scalarCount, Int($0))) } ?? scalarCount
                if end > start { ranges.append(start..<end) }
            }
        }
        if ranges.isEmpty, scalarCount > 0 { ranges = [0..<scalarCount] }
        let pages = Self.ranges(meta["pages"], label: "number")
        let sections = Self.ranges(meta["sections"], label: "title")
        _ = JSONPointer("/sections")!.remove(from: &meta)
        _ = JSONPointer("/pages")!.remove(from: &meta)
        var cuts: [(start: Int, end: Int)] = []
        for r in ranges {
            var start = r.lowerBound
            while start < r.upperBound {
                let end = min(start + size, r.upperBound)
                cuts.append((start, end))
                if end == r.upperBound { break }
                start = end - overlap
            }
        }
        var out: [ProviderItem] = []
        for (index, cut) in cuts.enumerated() {
            var m = meta
            var info: [String: JSONValue] = ["index": .number(Double(index)), "start": .number(Double(cut.start)),
                                             "end": .number(Double(cut.end)), "count": .number(Double(cuts.count))]
            if let page = pages.last(where: { $0.range.contains(cut.start) }) { info["page"] = page.label }
            let path = sections.filter { $0.range.contains(cut.start) }.compactMap(\.label.stringValue).filter { !$0.isEmpty }
            if !path.isEmpty { info["section"] = .string(path.joined(separator: " > ")) }
            _ = JSONPointer("/chunk")!.set(.object(info), in: &m)
            out.append(ProviderItem(metadata: m, payload: Data(utf8[starts[cut.start]..<starts[cut.end]]),
                                    resumeToken: Data("\(item.resumeTokenString)#c\(index)".utf8)))
        }
        return out
    }

    /// `[{start, end, <label>}]` (pages, sections) as ranges in document order; an open end
    /// runs to the end of the text.
    static func ranges(_ value: JSONValue?, label: String) -> [(range: Range<Int>, label: JSONValue)] {
        guard let list = value?.arrayValue else { return [] }
        return list.compactMap { r in
            guard let s = r["start"]?.doubleValue, s >= 0, s < 1e12 else { return nil }
            let e = r["end"]?.doubleValue.flatMap { $0 >= s && $0 < 1e12 ? $0 : nil } ?? 1e12
            return (Int(s)..<max(Int(s) + 1, Int(e)), r[label] ?? .null)
        }
    }
}
