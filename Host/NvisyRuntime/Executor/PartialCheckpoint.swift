import Foundation

/// A checkpoint inside a source item: "resume after `token`, and of the next item's outputs
/// (the rows of the next file) skip the first `skip`, they reached every sink".
///
/// Without it a run killed in the middle of a 100,000-row file would write all the file's
/// rows that were already in the table again. It is saved in place of the source's resume
/// token (the checkpoint store holds opaque bytes): the token, then a NUL byte, the marker
/// `nvisy-skip:` and `skip` in decimal. A token without the suffix is a plain checkpoint, so
/// checkpoints saved before this existed still resume. Only a deterministic expansion may
/// be skipped this way: the executor uses it for a provider transform of objects or documents
/// that is its source's only successor (a parser such as `formats/csv`).
struct PartialCheckpoint: Equatable {
    /// The source's resume token (nil: from the beginning).
    var token: Data?
    /// Leading outputs of the item after `token` to skip.
    var skip: Int

    private static let marker = Data("\u{0}nvisy-skip:".utf8)

    init(token: Data?, skip: Int) {
        self.token = token
        self.skip = skip
    }

    /// Reads a saved checkpoint (a plain token has `skip` 0).
    init(decoding saved: Data) {
        if let r = saved.range(of: Self.marker, options: .backwards),
           let n = Int(String(decoding: saved[r.upperBound...], as: UTF8.self)), n > 0 {
            let t = saved[saved.startIndex..<r.lowerBound]
            self.init(token: t.isEmpty ? nil : Data(t), skip: n)
        } else {
            self.init(token: saved, skip: 0)
        }
    }

    /// The bytes to save.
    var encoded: Data? {
        guard skip > 0 else { return token }
        return (token ?? Data()) + Self.marker + Data(String(skip).utf8)
    }
}
