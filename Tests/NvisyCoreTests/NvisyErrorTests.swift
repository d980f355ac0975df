import Foundation
import Testing

@testable import NvisyCore

@Suite("Errors and problem details")
struct NvisyErrorTests {
    @Test("each kind maps to one HTTP status and a retry class", arguments: NvisyError.Kind.allCases)
    func mapping(kind: NvisyError.Kind) {
        let expected: [NvisyError.Kind: Int] = [
            .invalidInput: 400, .unprocessable: 422, .unauthorized: 401, .forbidden: 403, .notFound: 404, .conflict: 409,
            .rateLimited: 429, .internal: 500, .unavailable: 503,
        ]
        #expect(kind.httpStatus == expected[kind])
        let transient: Set<NvisyError.Kind> = [.unavailable, .rateLimited]
        #expect(NvisyError(kind, "x").retry == (transient.contains(kind) ? .transient : .permanent))
    }

    @Test("a validation error becomes an RFC 9457 document with the field pointer")
    func problemDocument() throws {
        let error = NvisyError.invalidInput("must not be empty", pointer: "/name")
        let problem = ProblemDetails(error, instance: "/api/v1/workspaces")
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(problem)) as! [String: Any]
        #expect(json["status"] as? Int == 400)
        #expect(json["title"] as? String == "Invalid input")
        #expect((json["type"] as? String)?.hasSuffix("invalid-input") == true)
        let errors = json["errors"] as? [[String: String]]
        #expect(errors == [["pointer": "/name", "message": "must not be empty"]])
    }

    @Test("UUID v7 ids carry version 7 and sort by creation time")
    func uuidV7() {
        let early = UUID.v7(now: Date(timeIntervalSince1970: 1_700_000_000))
        let late = UUID.v7(now: Date(timeIntervalSince1970: 1_700_000_001))
        #expect(early.version == 7)
        #expect(early.uuidString < late.uuidString)
        #expect((early.uuid.8 & 0xC0) == 0x80)
        // A batch: one instant's timestamp in every id, version and variant bits set, the random
        // bits differing (1,000 ids from one read of the generator).
        let batch = UUID.v7Batch(count: 1000, now: Date(timeIntervalSince1970: 1_700_000_000))
        #expect(batch.count == 1000 && Set(batch).count == 1000)
        #expect(batch.allSatisfy { $0.version == 7 && ($0.uuid.8 & 0xC0) == 0x80 && $0.uuidString.prefix(13) == early.uuidString.prefix(13) })
        #expect(Set(batch.map { $0.uuid.15 }).count > 200)
        #expect(UUID.v7Batch(count: 0).isEmpty)
    }

    @Test("JSON values decode and encode losslessly")
    func jsonValue() throws {
        let text = #"{"a":[1,2.5,"x",true,null],"b":{"c":"d"}}"#
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(value["a"]?.arrayValue?.count == 5)
        #expect(value["b"]?["c"]?.stringValue == "d")
        let again = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
        #expect(again == value)
    }
}
