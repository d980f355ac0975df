import ArgumentParser
import Foundation
import NvisyCore

/// `nvisy connections list|get|create|delete|check`.
struct ConnectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections", abstract: "List, show, create, check or delete a workspace's connections.",
        subcommands: [List.self, Get.self, Create.self, Delete.self, Check.self], defaultSubcommand: List.self)

    static let columns = [("ID", "id"), ("NAME", "name"), ("PROVIDER", "provider"), ("CREDENTIALS", "credentials.set"), ("UPDATED", "updatedAt")]

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The workspace's connections.")
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let client = try options.client()
            let ws = try await workspace.resolve(client)
            let items = try await Paging.all(client, "/api/v1/workspaces/\(ws)/connections")
            if options.json { try Output.json(["items": .array(items)]) } else { Output.table(items, ConnectionsCommand.columns) }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One connection (never its credentials).")
        @Argument(help: "Its name or id") var connection: String
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let (client, id) = try await ConnectionsCommand.find(connection, options, workspace)
            let item = try await client.get("/api/v1/connections/\(id)")
            if options.json { try Output.json(item) } else { Output.record(item, ConnectionsCommand.columns + [("CONFIG", "config")]) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a connection to a provider (plugin/provider).")
        @Argument(help: "Its name") var name: String
        @Option(help: "The provider, e.g. filesystem/files") var provider: String
        @Option(help: "Its config: JSON, or @file.json") var config: String = "{}"
        @Option(help: "Its credentials: JSON, or @file.json (stored encrypted, never shown again)") var credentials: String?
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let client = try options.client()
            let ws = try await workspace.resolve(client)
            var body: [String: JSONValue] = ["name": .string(name), "provider": .string(provider),
                                             "config": try Output.parseJSON(config, option: "--config")]
            if let credentials { body["credentials"] = try Output.parseJSON(credentials, option: "--credentials") }
            let item = try await client.call(.POST, "/api/v1/workspaces/\(ws)/connections", json: .object(body)) ?? .null
            if options.json { try Output.json(item) } else { Output.record(item, ConnectionsCommand.columns) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a connection.")
        @Argument(help: "Its name or id") var connection: String
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let (client, id) = try await ConnectionsCommand.find(connection, options, workspace)
            try await client.call(.DELETE, "/api/v1/connections/\(id)")
            if options.json { try Output.json(["deleted": .string(id)]) } else { print("Deleted connection \(id).") }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask the provider whether the connection works; exit 1 if not.")
        @Argument(help: "Its name or id") var connection: String
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let (client, id) = try await ConnectionsCommand.find(connection, options, workspace)
            let result = try await client.call(.POST, "/api/v1/connections/\(id)/check") ?? .null
            if options.json { try Output.json(result) } else {
                print(result["ok"]?.boolValue == true ? "ok (\(Output.text(result, "durationMs")) ms)"
                      : "failed: \(Output.text(result, "error.kind")) (\(Output.text(result, "error.retry"))): \(Output.text(result, "error.message"))")
            }
            if result["ok"]?.boolValue != true { throw ExitCode.failure }
        }
    }

    /// The client and the connection's id (a UUID is taken as is; a name is looked up in the workspace).
    static func find(_ nameOrID: String, _ options: ClientOptions, _ workspace: WorkspaceOption) async throws -> (APIClient, String) {
        let client = try options.client()
        if UUID(uuidString: nameOrID) != nil { return (client, nameOrID.lowercased()) }
        let ws = try await workspace.resolve(client)
        let item = try await Paging.find(client, "/api/v1/workspaces/\(ws)/connections", nameOrID, what: "connection")
        return (client, item["id"]?.stringValue ?? nameOrID)
    }
}
