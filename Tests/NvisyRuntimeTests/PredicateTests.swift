import Foundation
import NvisyCore
import Testing
@testable import NvisyRuntime

/// The predicate language of `filter` and switch cases, including routing by file category
/// and by language.
@Suite("Runtime: predicates")
struct PredicateTests {
    static func parse(_ json: JSONValue) throws -> NvisyRuntime.Predicate {
        try NvisyRuntime.Predicate.parse(json, at: "/where").get()
    }

    @Test("comparisons, logic and string operators over metadata")
    func basics() throws {
        let meta: JSONValue = ["age": "42", "name": "Ada Lovelace", "tags": ["math", "poetry"]]
        #expect(try Self.parse([">=": [["var": "/age"], 18]]).evaluate(meta))
        #expect(try !Self.parse(["<": [["var": "/age"], 18]]).evaluate(meta))
        #expect(try Self.parse(["and": [["startsWith": [["var": "/name"], "Ada"]], ["contains": [["var": "/tags"], "poetry"]]]]).evaluate(meta))
        #expect(try !Self.parse(["exists": "/missing"]).evaluate(meta))
        #expect(try Self.parse(["in": [["var": "/age"], [41, 42]]]).evaluate(meta))
    }

    @Test("category: from the MIME type, else the extension", arguments: [
        (["contentType": "application/pdf"] as JSONValue, "document"),
        (["path": "reports/q1.XLSX"] as JSONValue, "spreadsheet"),
        (["contentType": "image/png", "path": "a.bin"] as JSONValue, "image"),
        (["contentType": "application/octet-stream", "path": "notes.md"] as JSONValue, "text"),
        (["path": "main.swift"] as JSONValue, "code"),
        (["path": "noextension"] as JSONValue, "other"),
    ])
    func category(_ meta: JSONValue, _ expected: String) throws {
        #expect(try Self.parse(["category": .string(expected)]).evaluate(meta))
        let others = FileCategory.allCases.map(\.rawValue).filter { $0 != expected }
        #expect(try !Self.parse(["category": .array(others.map { .string($0) })]).evaluate(meta))
    }

    @Test("language: declared in the metadata, else detected in the text")
    func language() throws {
        let english = Data("The quick brown fox jumps over the lazy dog, and it is the best of all the dogs in this town.".utf8)
        let german = Data("Der schnelle braune Fuchs springt über den faulen Hund, und das ist nicht die Art, die ich mit dem Hund kenne.".utf8)
        let french = Data("Le renard brun saute par-dessus le chien paresseux et il est dans la maison avec les enfants pour le dîner.".utf8)
        let en = try Self.parse(["language": "en"]), de = try Self.parse(["language": ["de", "nl"]]), fr = try Self.parse(["language": "fr"])
        #expect(en.evaluate([:], payload: english))
        #expect(!en.evaluate([:], payload: german))
        #expect(de.evaluate([:], payload: german))
        #expect(fr.evaluate([:], payload: french))
        #expect(!fr.evaluate([:], payload: Data([0xff, 0xfe, 0x00])), "binary has no language")
        #expect(en.evaluate(["language": "en-GB"], payload: german), "a declared language wins")
        #expect(LanguageDetector.detect("ok") == nil)
    }

    @Test("bad operators and arguments point at the spot")
    func errors() {
        for (json, pointer) in [(["category": "pictures"] as JSONValue, "/where/category"), (["language": "english"] as JSONValue, "/where/language"),
                                (["nope": 1] as JSONValue, "/where/nope")] {
            guard case .failure(let e) = NvisyRuntime.Predicate.parse(json, at: "/where") else { Issue.record("\(json) parsed"); continue }
            #expect(e.errors.first?.0 == pointer, "\(e.errors)")
        }
    }
}
