/// The files `nvisy plugins new swift NAME --kind KIND` writes: a package with one dynamic
/// library (the provider on NvisyPluginKit, taken from the nvisy checkout by path), a Swift
/// Testing test of the provider, and a manifest naming the built library by absolute path.
enum SwiftScaffold {
    static func files(name: String, kind: ProviderKind, folder: String, repository: String) -> [(String, String)] {
        let type = name.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        let target = "\(type)Plugin"
        let package = """
            // swift-tools-version: 6.0
            // The \(name) plugin for nvisy: provider \(name)/\(kind.providerName) (\(kind.rawValue)).
            import PackageDescription

            let package = Package(
                name: "\(name)",
                products: [.library(name: "\(target)", type: .dynamic, targets: ["\(target)"])],
                dependencies: [.package(path: "\(repository)")],
                targets: [
                    .target(name: "\(target)", dependencies: [.product(name: "NvisyPluginKit", package: "\(repositoryName(repository))")]),
                    .testTarget(name: "\(target)Tests", dependencies: ["\(target)"]),
                ]
            )

            """
        let manifest = """
            # The \(name) plugin: provider \(name)/\(kind.providerName) (\(kind.rawValue)), a Swift library.
            # `swift build` in \(folder), copy this file into the host's plugins.d/, then `nvisy plugins reload`.
            name = "\(name)"
            runtime = "swift"
            library = "\(folder)/.build/debug/lib\(target).so"
            enabled = true

            """
        return [("Package.swift", package), ("Sources/\(target)/\(type).swift", source(name: name, type: type, kind: kind)),
                ("Tests/\(target)Tests/\(type)Tests.swift", test(type: type, target: target, kind: kind)), ("\(name).toml", manifest)]
    }

    /// SwiftPM names a path dependency after its folder.
    static func repositoryName(_ path: String) -> String {
        String(path.split(separator: "/").last ?? "nvisy")
    }

    static func source(name: String, type: String, kind: ProviderKind) -> String {
        let (conformance, schema, members): (String, String, String) = switch kind {
        case .source: ("SourceProvider", #"{"type":"object","required":["count"],"properties":{"count":{"type":"integer","minimum":0}}}"#, """
                public struct Config: Decodable, Sendable { var count: Int }
                public static let dataType = DataType.record
                let count: Int
                public init(config: Config, credentials: NoConfig) throws { count = config.count }

                /// `count` records; the resume token is the record's index.
                public func read(after resumeToken: Data?, context: CallContext) throws -> any ItemCursor {
                    let start = resumeToken.flatMap { Int(String(decoding: $0, as: UTF8.self)) }.map { $0 + 1 } ?? 0
                    return SequenceCursor((start..<max(start, count)).lazy.map { i in
                        Item(metadata: ["index": .number(Double(i))], resumeToken: String(i))
                    })
                }
            """)
        case .sink: ("SinkProvider", #"{"type":"object"}"#, """
                public static let dataType = DataType.record
                /// What was written (a real sink writes somewhere durable before returning).
                public private(set) var written: [Item] = []
                public init(config: NoConfig, credentials: NoConfig) throws {}

                public func write(_ items: [Item], context: CallContext) throws {
                    try context.checkCancelled()
                    written += items
                }
            """)
        case .transform: ("TransformProvider", #"{"type":"object"}"#, """
                public static let dataType = DataType.record
                public static let inputDataType = DataType.record
                public init(config: NoConfig, credentials: NoConfig) throws {}

                /// Passes each item on twice: replace with the real transformation.
                public func transform(_ items: [Item], context: CallContext) throws -> any ItemCursor {
                    SequenceCursor(items.flatMap { [$0, $0] })
                }
            """)
        case .embedding: ("EmbeddingProvider", #"{"type":"object"}"#, """
                public static let dataType = DataType.embedding
                public init(config: NoConfig, credentials: NoConfig) throws {}

                /// A toy embedding (length, vowels): replace with a real model.
                public func embed(_ texts: [String], context: CallContext) throws -> [[Float]] {
                    texts.map { [Float($0.count), Float($0.filter { "aeiou".contains($0) }.count)] }
                }
            """)
        case .completion: ("CompletionProvider", #"{"type":"object"}"#, """
                public static let dataType = DataType.message
                public init(config: NoConfig, credentials: NoConfig) throws {}

                /// Echoes the last message word by word: replace with a real model.
                public func complete(_ request: JSON, context: CallContext, onToken: (String) -> Void) throws -> JSON {
                    guard case .array(let messages)? = request["messages"], let last = messages.last?["content"]?.stringValue else {
                        throw PluginError.invalidConfig("the request needs messages[].content")
                    }
                    for word in last.split(separator: " ") { onToken(String(word) + " ") }
                    return ["content": .string(last), "finishReason": "stop"]
                }
            """)
        }
        return """
            import Foundation
            import NvisyPluginKit

            /// `\(name)/\(kind.providerName)`: \(kind.summary)
            public final class \(type): \(conformance) {
                public static let name = "\(kind.providerName)"
                public static let configSchema = #\"\"\"
                \(schema)
                \"\"\"#
            \(members)
            }

            @_cdecl("nvisy_plugin_entry")
            public func nvisyPluginEntry(_ host: UnsafeRawPointer?) -> UnsafeRawPointer? {
                export(host, plugin: "\(name)", version: "0.1.0", \(type).self)
            }

            """
    }

    static func test(type: String, target: String, kind: ProviderKind) -> String {
        let body: String = switch kind {
        case .source: """
                let provider = try \(type)(config: .init(count: 3), credentials: NoConfig())
                let items = try provider.read(after: nil, context: .none).next(max: 10, context: .none)
                #expect(items.count == 3)
                let rest = try provider.read(after: Data("1".utf8), context: .none).next(max: 10, context: .none)
                #expect(rest.count == 1)
            """
        case .sink: """
                let provider = try \(type)(config: NoConfig(), credentials: NoConfig())
                try provider.write([Item(metadata: ["a": 1])], context: .none)
                #expect(provider.written.count == 1)
            """
        case .transform: """
                let provider = try \(type)(config: NoConfig(), credentials: NoConfig())
                let out = try provider.transform([Item(metadata: ["a": 1])], context: .none).next(max: 10, context: .none)
                #expect(out.count == 2)
            """
        case .embedding: """
                let provider = try \(type)(config: NoConfig(), credentials: NoConfig())
                #expect(try provider.embed(["banana"], context: .none) == [[6, 3]])
            """
        case .completion: """
                let provider = try \(type)(config: NoConfig(), credentials: NoConfig())
                var tokens: [String] = []
                let answer = try provider.complete(["messages": [["role": "user", "content": "hi there"]]], context: .none) { tokens.append($0) }
                #expect(tokens == ["hi ", "there "])
                #expect(answer["content"]?.stringValue == "hi there")
            """
        }
        return """
            import Foundation
            import NvisyPluginKit
            import Testing
            @testable import \(target)

            @Test func \(kind.rawValue)Works() throws {
            \(body)
            }

            """
    }
}
