import ArgumentParser
import Foundation
import NvisyCore

/// `nvisy pipelines list|get|create|delete|validate|run`.
struct PipelinesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipelines", abstract: "List, show, create, validate, run or delete a workspace's pipelines.",
        subcommands: [List.self, Get.self, Create.self, Delete.self, Validate.self, Run.self], defaultSubcommand: List.self)

    static let columns = [("ID", "id"), ("NAME", "name"), ("STATUS", "status"), ("NEXT RUN", "nextRunAt"), ("UPDATED", "updatedAt")]

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The workspace's pipelines.")
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let client = try options.client()
            let ws = try await workspace.resolve(client)
            let items = try await Paging.all(client, "/api/v1/workspaces/\(ws)/pipelines")
            if options.json { try Output.json(["items": .array(items)]) } else { Output.table(items, PipelinesCommand.columns) }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One pipeline with its definition.")
        @Argument(help: "Its name or id") var pipeline: String
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let (client, id) = try await PipelinesCommand.find(pipeline, options, workspace)
            let item = try await client.get("/api/v1/pipelines/\(id)")
            if options.json { try Output.json(item) } else { Output.record(item, PipelinesCommand.columns + [("DEFINITION", "definition")]) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a pipeline from a definition ({nodes, edges}).")
        @Argument(help: "Its name") var name: String
        @Option(help: "The definition: JSON, or @file.json") var definition: String
        @Flag(help: "Create it enabled (it must compile); default: a draft") var enabled = false
        @Option(help: "Triggers: JSON, e.g. {\"schedule\":\"@daily\"}") var triggers: String?
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let client = try options.client()
            let ws = try await workspace.resolve(client)
            var body: [String: JSONValue] = ["name": .string(name), "status": .string(enabled ? "enabled" : "draft"),
                                             "definition": try Output.parseJSON(definition, option: "--definition")]
            if let triggers { body["triggers"] = try Output.parseJSON(triggers, option: "--triggers") }
            let item = try await client.call(.POST, "/api/v1/workspaces/\(ws)/pipelines", json: .object(body)) ?? .null
            if options.json { try Output.json(item) } else { Output.record(item, PipelinesCommand.columns) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a pipeline.")
        @Argument(help: "Its name or id") var pipeline: String
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let (client, id) = try await PipelinesCommand.find(pipeline, options, workspace)
            try await client.call(.DELETE, "/api/v1/pipelines/\(id)")
            if options.json { try Output.json(["deleted": .string(id)]) } else { print("Deleted pipeline \(id).") }
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Compile a pipeline and list its problems; exit 1 if it has any.")
        @Argument(help: "Its name or id") var pipeline: String
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let (client, id) = try await PipelinesCommand.find(pipeline, options, workspace)
            let result = try await client.call(.POST, "/api/v1/pipelines/\(id)/validate") ?? .null
            if options.json { try Output.json(result) } else if result["valid"]?.boolValue == true {
                print("valid; steps: \(Output.text(result, "steps"))")
            } else {
                for problem in result["problems"]?.arrayValue ?? [] {
                    print("\(Output.text(problem, "pointer")): \(Output.text(problem, "message"))")
                }
            }
            if result["valid"]?.boolValue != true { throw ExitCode.failure }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a run; with --follow, show its progress and exit 0 only if it completes.")
        @Argument(help: "The pipeline's name or id") var pipeline: String
        @Flag(help: "Follow the run's progress until it ends") var follow = false
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let (client, id) = try await PipelinesCommand.find(pipeline, options, workspace)
            let run = try await client.call(.POST, "/api/v1/pipelines/\(id)/runs") ?? .null
            guard let runID = run["id"]?.stringValue else { throw NvisyError.internal("the server answered no run id") }
            if follow {
                if !options.json { print("run \(runID) queued") }
                var follower = RunFollower(client: client, json: options.json)
                try await follower.follow(runID)
            } else if options.json {
                try Output.json(run)
            } else {
                print("run \(runID) \(Output.text(run, "status")); follow it with: nvisy runs follow \(runID)")
            }
        }
    }

    /// The client and the pipeline's id (a UUID as is; a name looked up in the workspace).
    static func find(_ nameOrID: String, _ options: ClientOptions, _ workspace: WorkspaceOption) async throws -> (APIClient, String) {
        let client = try options.client()
        if UUID(uuidString: nameOrID) != nil { return (client, nameOrID.lowercased()) }
        let ws = try await workspace.resolve(client)
        let item = try await Paging.find(client, "/api/v1/workspaces/\(ws)/pipelines", nameOrID, what: "pipeline")
        return (client, item["id"]?.stringValue ?? nameOrID)
    }
}
