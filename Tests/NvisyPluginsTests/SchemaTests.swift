import NvisyCore
import Testing
@testable import NvisyPlugins

@Suite("JSON Schema subset")
struct SchemaTests {
    let schema: JSONValue = [
        "type": "object", "required": ["name"], "additionalProperties": false,
        "properties": [
            "name": ["type": "string", "minLength": 1, "pattern": "^[a-z]+$"],
            "size": ["type": "integer", "minimum": 1, "maximum": 10],
            "mode": ["enum": ["a", "b"]],
            "tags": ["type": "array", "items": ["type": "string"], "maxItems": 2],
            "ratio": ["type": ["number", "null"], "exclusiveMaximum": 1],
        ],
    ]

    func pointers(_ v: JSONValue) -> [String] {
        JSONSchemaValidator(schema: schema).errors(in: v).map(\.pointer)
    }

    @Test func accepts() {
        #expect(pointers(["name": "abc", "size": 3, "mode": "a", "tags": ["x"], "ratio": 0.5]).isEmpty)
        #expect(pointers(["name": "abc", "ratio": nil]).isEmpty)
    }

    @Test func rejects() {
        #expect(pointers([:]) == ["/name"])
        #expect(pointers(["name": "ABC"]) == ["/name"])
        #expect(pointers(["name": "a", "size": 2.5]) == ["/size"])
        #expect(pointers(["name": "a", "size": 11]) == ["/size"])
        #expect(pointers(["name": "a", "mode": "c"]) == ["/mode"])
        #expect(pointers(["name": "a", "tags": ["x", 1, "z"]]) == ["/tags", "/tags/1"])
        #expect(pointers(["name": "a", "ratio": 1]) == ["/ratio"])
        #expect(pointers(["name": "a", "other": true]) == ["/other"])
        #expect(pointers("text") == [""])
    }
}
