import Foundation
import NvisyCore

/// List parameters: `limit` (1–100, default 20) and an opaque `cursor`.
struct PageRequest: Sendable {
    static let defaultLimit = 20
    static let maximumLimit = 100

    var limit: Int
    /// The position to continue after (decoded from the cursor).
    var after: UUID?

    init(limit: Int?, cursor: String?) throws(NvisyError) {
        var errors: [NvisyError.FieldError] = []
        let limit = limit ?? Self.defaultLimit
        if !(1...Self.maximumLimit).contains(limit) {
            errors.append(.init(pointer: "/limit", message: "must be from 1 to \(Self.maximumLimit) (got \(limit))"))
        }
        var after: UUID?
        if let cursor, !cursor.isEmpty {
            after = Self.decode(cursor)
            if after == nil { errors.append(.init(pointer: "/cursor", message: "is not a cursor this server issued; pass nextCursor back unchanged")) }
        }
        if !errors.isEmpty { throw NvisyError.invalidInput("invalid list parameters", fields: errors) }
        self.limit = limit
        self.after = after
    }

    /// The opaque cursor for a position.
    static func encode(_ id: UUID?) -> String? {
        id.map { Data(("c1:" + $0.uuidString.lowercased()).utf8).base64URLEncodedString() }
    }

    static func decode(_ cursor: String) -> UUID? {
        guard cursor.utf8.count <= 200, let data = Data(base64URLEncoded: cursor), let text = String(data: data, encoding: .utf8),
              text.hasPrefix("c1:") else { return nil }
        return UUID(uuidString: String(text.dropFirst(3)))
    }
}
