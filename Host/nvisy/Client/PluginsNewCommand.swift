import ArgumentParser
import Foundation
import NvisyCore

/// What a scaffolded provider does.
enum ProviderKind: String, CaseIterable, ExpressibleByArgument, Sendable {
    case source, sink, transform, embedding, completion

    /// The provider's name inside its plugin.
    var providerName: String {
        switch self {
        case .source: "records"
        case .sink: "jsonl"
        case .transform: "upper"
        case .embedding: "embeddings"
        case .completion: "chat"
        }
    }

    var summary: String {
        switch self {
        case .source: "a source of records (replace the loop with your system's reads)."
        case .sink: "a sink of records (replace the file with your system's writes)."
        case .transform: "a transform of records."
        case .embedding: "an embedding provider."
        case .completion: "a completion (chat) provider."
        }
    }
}

/// `nvisy plugins new swift|python NAME --kind KIND [--dir DIR]`: writes a provider that builds,
/// passes its generated test, and loads into a host once its manifest is in plugins.d.
struct PluginsNewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new", abstract: "Scaffold a provider plugin (Swift or Python) with a test and a manifest.")

    enum Language: String, ExpressibleByArgument { case swift, python }

    @Argument(help: "swift or python") var language: Language
    @Argument(help: "The plugin's name (lower case letters, digits and _)") var name: String
    @Option(help: "source, sink, transform, embedding or completion") var kind: ProviderKind
    @Option(help: "Where to create the plugin's folder (default: the current directory)") var dir: String = "."
    @Option(help: "The nvisy checkout a Swift plugin takes NvisyPluginKit from (default: found from the binary)") var repository: String?

    func run() throws {
        guard name.range(of: "^[a-z][a-z0-9_]{0,39}$", options: .regularExpression) != nil else {
            throw NvisyError.invalidInput("the plugin name must be lower case letters, digits and _, starting with a letter (got \"\(name)\")")
        }
        let folder = URL(fileURLWithPath: dir).standardizedFileURL.appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: folder.path) {
            throw NvisyError.conflict("\(folder.path) already exists; choose another name or --dir")
        }
        let files: [(String, String)]
        switch language {
        case .python:
            files = PythonScaffold.files(name: name, kind: kind, folder: folder.path)
        case .swift:
            let repo = try repository.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? Self.findRepository()
            guard FileManager.default.fileExists(atPath: repo + "/PluginABI/NvisyPluginKit") else {
                throw NvisyError.invalidInput("\(repo) is not an nvisy checkout (no PluginABI/NvisyPluginKit); give --repository")
            }
            files = SwiftScaffold.files(name: name, kind: kind, folder: folder.path, repository: repo)
        }
        for (path, contents) in files {
            let url = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(contents.utf8).write(to: url)
        }
        print("Created \(folder.path): \(files.map(\.0).joined(separator: ", "))")
        switch language {
        case .python: print("Test it: cd \(folder.path) && python -m pytest")
        case .swift: print("Build and test it: cd \(folder.path) && swift build && swift test")
        }
        print("Load it: cp \(folder.path)/\(name).toml <plugins.d>/ && nvisy plugins reload")
    }

    /// The checkout the running binary was built from: the first ancestor of the binary (or the
    /// current directory) holding PluginABI/NvisyPluginKit.
    static func findRepository() throws -> String {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for start in [binary.deletingLastPathComponent(), URL(fileURLWithPath: FileManager.default.currentDirectoryPath)] {
            var dir = start.standardizedFileURL
            while dir.path != "/" {
                if FileManager.default.fileExists(atPath: dir.appendingPathComponent("PluginABI/NvisyPluginKit").path) { return dir.path }
                dir = dir.deletingLastPathComponent()
            }
        }
        throw NvisyError.notFound("cannot find the nvisy checkout for NvisyPluginKit; give --repository PATH")
    }
}
