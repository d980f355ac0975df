import ArgumentParser
import Foundation
import NvisyCore

/// `nvisy workspaces list|get|create|delete`.
struct WorkspacesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workspaces", abstract: "List, show, create or delete workspaces.",
        subcommands: [List.self, Get.self, Create.self, Delete.self], defaultSubcommand: List.self)

    static let columns = [("ID", "id"), ("NAME", "name"), ("ROLE", "role"), ("CREATED", "createdAt")]

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The workspaces you are a member of.")
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let items = try await Paging.all(try options.client(), "/api/v1/workspaces")
            if options.json { try Output.json(["items": .array(items)]) } else { Output.table(items, WorkspacesCommand.columns) }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One workspace.")
        @Argument(help: "Its name or id") var workspace: String
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let client = try options.client()
            let id = try await WorkspaceOption.named(workspace).resolve(client)
            let item = try await client.get("/api/v1/workspaces/\(id)")
            if options.json { try Output.json(item) } else { Output.record(item, WorkspacesCommand.columns + [("DESCRIPTION", "description")]) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a workspace (you are its owner).")
        @Argument(help: "Its name") var name: String
        @Option(help: "A description") var description: String?
        @OptionGroup var options: ClientOptions
        func run() async throws {
            var body: [String: JSONValue] = ["name": .string(name)]
            if let description { body["description"] = .string(description) }
            let item = try await options.client().call(.POST, "/api/v1/workspaces", json: .object(body)) ?? .null
            if options.json { try Output.json(item) } else { Output.record(item, WorkspacesCommand.columns) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a workspace and everything in it (owner only).")
        @Argument(help: "Its name or id") var workspace: String
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let client = try options.client()
            let id = try await WorkspaceOption.named(workspace).resolve(client)
            try await client.call(.DELETE, "/api/v1/workspaces/\(id)")
            if options.json { try Output.json(["deleted": .string(id)]) } else { print("Deleted workspace \(id).") }
        }
    }
}
