import ArgumentParser
import Foundation
import NvisyCore

/// `nvisy files list|upload|delete`.
struct FilesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "files", abstract: "List, upload or delete a workspace's files.",
        subcommands: [List.self, Upload.self, Delete.self], defaultSubcommand: List.self)

    static let columns = [("ID", "id"), ("NAME", "name"), ("VERSION", "version"), ("SIZE", "size"), ("TYPE", "contentType"), ("CREATED", "createdAt")]

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The workspace's files.")
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let client = try options.client()
            let ws = try await workspace.resolve(client)
            let items = try await Paging.all(client, "/api/v1/workspaces/\(ws)/files")
            if options.json { try Output.json(["items": .array(items)]) } else { Output.table(items, FilesCommand.columns) }
        }
    }

    struct Upload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upload a file (streamed), with a progress bar on a terminal.")
        @Argument(help: "The file to upload") var path: String
        @Option(help: "Its name in the workspace (default: the file's name)") var name: String?
        @Option(help: "Its declared content type (default: application/octet-stream)") var contentType = "application/octet-stream"
        @Option(help: "Tags, comma-separated") var tags: String?
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let url = URL(fileURLWithPath: path)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue,
                  let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber else {
                throw NvisyError.invalidInput("\(path) is not a readable file")
            }
            let client = try options.client()
            let ws = try await workspace.resolve(client)
            var query = "name=" + Output.query(name ?? url.lastPathComponent)
            if let tags { query += "&tags=" + Output.query(tags) }
            let bar = ProgressBar(total: size.int64Value, enabled: isatty(STDERR_FILENO) == 1 && !options.json)
            let item = try await client.upload("/api/v1/workspaces/\(ws)/files?\(query)", file: url, contentType: contentType,
                                               size: size.int64Value) { sent in bar.update(sent) }
            bar.finish()
            if options.json { try Output.json(item) } else { Output.record(item, FilesCommand.columns + [("SHA-256", "sha256")]) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a file.")
        @Argument(help: "The file's id") var file: String
        @OptionGroup var options: ClientOptions
        func run() async throws {
            guard UUID(uuidString: file) != nil else { throw NvisyError.invalidInput("\"\(file)\" is not a file id (a UUID)") }
            try await options.client().call(.DELETE, "/api/v1/files/\(file.lowercased())")
            if options.json { try Output.json(["deleted": .string(file.lowercased())]) } else { print("Deleted file \(file).") }
        }
    }
}
