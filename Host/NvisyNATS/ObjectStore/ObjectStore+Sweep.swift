import CNats
import Foundation
import NvisyCore

/// Finding what a crashed writer left in a bucket: chunks that no object's metadata names.
extension ObjectStore {
    /// Chunk subjects in the bucket: each object's id (`nuid`) and how many chunk messages it has.
    public func chunkSets() async throws -> [(nuid: String, messages: Int)] {
        let prefix = "$O.\(bucket).C."
        return try await subjectCounts(prefix + ">", what: "list the chunks of bucket \(bucket)").map {
            (String($0.subject.dropFirst(prefix.count)), $0.messages)
        }
    }

    /// The subjects of the bucket's stream that match `filter`, each with its message count.
    func subjectCounts(_ filter: String, what: String) async throws -> [(subject: String, messages: Int)] {
        let js = connection.js
        let stream = self.stream
        let bucket = self.bucket
        return try await Blocking.run {
            let strings = CStrings()
            var o = jsOptions()
            jsOptions_Init(&o)
            o.Stream.Info.SubjectsFilter = strings.make(filter)
            var si: UnsafeMutablePointer<jsStreamInfo>?
            var err = jsErrCode(rawValue: 0)
            let s = js_GetStreamInfo(&si, js.raw, stream, &o, &err)
            if s == NATS_NOT_FOUND || err == JSStreamNotFoundErr { throw NvisyError.notFound("object store bucket \(bucket) does not exist") }
            try NATSStatus.check(s, what, jsErr: err)
            defer { jsStreamInfo_Destroy(si) }
            guard let subs = si!.pointee.State.Subjects else { return [] }
            return (0..<Int(subs.pointee.Count)).map { i in
                let entry = subs.pointee.List[i]
                return (String(cString: entry.Subject), Int(entry.Msgs))
            }
        }
    }

    /// When the last chunk of `nuid` was stored; nil if it has none.
    func lastChunkTime(_ nuid: String) async throws -> Date? {
        let js = connection.js
        let stream = self.stream
        let subject = chunkSubject(nuid)
        return try await Blocking.run {
            var msg: OpaquePointer?
            var err = jsErrCode(rawValue: 0)
            let s = js_GetLastMsg(&msg, js.raw, stream, subject, nil, &err)
            if s == NATS_NOT_FOUND || err == JSNoMessageFoundErr { return nil }
            try NATSStatus.check(s, "read the last chunk of \(subject)", jsErr: err)
            defer { natsMsg_Destroy(msg) }
            return Date(timeIntervalSince1970: Double(natsMsg_GetTime(msg)) / 1e9)
        }
    }

    /// Purges chunks that no object's metadata names and that nothing wrote to for `grace`:
    /// what a writer that died before publishing the metadata left behind. A put in progress
    /// writes a chunk at least every few seconds, so a grace of minutes never touches one.
    /// Returns how many chunk sets were purged.
    @discardableResult
    public func purgeOrphanedChunks(olderThan grace: Duration) async throws -> Int {
        // Chunks first, then metadata: a put that finishes in between is then seen as named.
        let sets = try await chunkSets()
        guard !sets.isEmpty else { return 0 }
        let named = Set(try await list().map(\.nuid))
        let before = Date().addingTimeInterval(-Double(grace.components.seconds) - Double(grace.components.attoseconds) / 1e18)
        var purged = 0
        for set in sets where !named.contains(set.nuid) {
            guard let last = try await lastChunkTime(set.nuid), last < before else { continue }
            try await purge(subject: chunkSubject(set.nuid))
            purged += 1
        }
        return purged
    }
}
