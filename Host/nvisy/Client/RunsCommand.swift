import ArgumentParser
import Foundation
import NvisyCore

/// `nvisy runs list|get|follow|cancel|errors`.
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "List, show, follow or cancel pipeline runs.",
        subcommands: [List.self, Get.self, Follow.self, Cancel.self, Errors.self], defaultSubcommand: List.self)

    static let columns = [("ID", "id"), ("PIPELINE", "pipelineName"), ("STATUS", "status"), ("READ", "read"), ("WRITTEN", "written"),
                          ("FAILED", "failed"), ("CREATED", "createdAt")]

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The workspace's runs, newest first.")
        @Option(help: "Only runs with this status (queued, running, completed, failed, cancelled)") var status: String?
        @Option(help: "Only this pipeline's runs (name or id)") var pipeline: String?
        @Option(help: "At most this many") var limit = 20
        @OptionGroup var options: ClientOptions
        @OptionGroup var workspace: WorkspaceOption
        func run() async throws {
            let client = try options.client()
            let ws = try await workspace.resolve(client)
            var path = "/api/v1/workspaces/\(ws)/runs?limit=\(max(1, min(limit, 100)))"
            if let status { path += "&status=" + Output.query(status) }
            if let pipeline {
                let id = try await PipelinesCommand.find(pipeline, options, WorkspaceOption.named(ws)).1
                path += "&pipelineId=" + id
            }
            let items = Output.items(try await client.get(path))
            if options.json { try Output.json(["items": .array(items)]) } else { Output.table(items, RunsCommand.columns) }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One run with its counters.")
        @Argument(help: "The run's id") var run: String
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let item = try await options.client().get("/api/v1/runs/\(try RunsCommand.id(run))")
            if options.json { try Output.json(item) } else {
                Output.record(item, RunsCommand.columns + [("ATTEMPTS", "attempts"), ("STARTED", "startedAt"), ("FINISHED", "finishedAt"),
                                                           ("ERROR", "error.message")])
            }
        }
    }

    struct Follow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a run's progress until it ends; exit 0 only if it completes.")
        @Argument(help: "The run's id") var run: String
        @OptionGroup var options: ClientOptions
        func run() async throws {
            var follower = RunFollower(client: try options.client(), json: options.json)
            try await follower.follow(try RunsCommand.id(run))
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask a queued or running run to stop.")
        @Argument(help: "The run's id") var run: String
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let item = try await options.client().call(.POST, "/api/v1/runs/\(try RunsCommand.id(run))/cancel") ?? .null
            if options.json { try Output.json(item) } else { print("run \(Output.text(item, "id")): cancel requested (\(Output.text(item, "status")))") }
        }
    }

    struct Errors: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The items of a run that failed for good.")
        @Argument(help: "The run's id") var run: String
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let items = try await Paging.all(try options.client(), "/api/v1/runs/\(try RunsCommand.id(run))/errors")
            if options.json { try Output.json(["items": .array(items)]) } else {
                Output.table(items, [("NODE", "nodeId"), ("ITEM", "itemToken"), ("RETRY", "retry"), ("AT", "at"), ("MESSAGE", "message")])
            }
        }
    }

    /// A run id must be a UUID: say so rather than asking the server about a typo.
    static func id(_ text: String) throws -> String {
        guard UUID(uuidString: text) != nil else { throw NvisyError.invalidInput("\"\(text)\" is not a run id (a UUID)") }
        return text.lowercased()
    }
}
