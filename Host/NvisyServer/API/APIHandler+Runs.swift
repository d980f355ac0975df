import Foundation
import NvisyCore
import NvisyPostgres
import NvisyRuntime
import OpenAPIRuntime

/// Runs: queued with a snapshot of the pipeline's definition, executed by a worker that pulls
/// them from JetStream, observed through `GET /runs/{id}` (and its SSE twin
/// ``RunEventsController``), cancelled through `POST /runs/{id}/cancel`.
extension APIHandler {
    func startRun(_ input: Operations.StartRun.Input) async throws -> Operations.StartRun.Output {
        let pipeline = try await loadPipeline(input.path.pipelineId, .runPipelines)
        let me = try context.requireSignedIn()
        let service = try runService()
        if pipeline.status == "disabled" {
            throw NvisyError.conflict("pipeline \(pipeline.name) is disabled; enable it (PATCH status) to run it")
        }
        // Refuse at once what would fail at once: the worker compiles the same snapshot again.
        try await requireCompiles(try Self.storedDefinition(pipeline.definitionJSON), in: pipeline.workspaceID)
        let run = try await deps.runs.create(NewRun(workspaceID: pipeline.workspaceID, pipelineID: pipeline.id, pipelineName: pipeline.name,
                                                    definitionJSON: pipeline.definitionJSON, createdBy: me.accountID))
        await service.enqueue(run.id, logger: try context.logger)
        await record(pipeline.workspaceID, me, "run.started", targetType: "run", targetID: run.id, details: ["pipeline": pipeline.name])
        return .accepted(.init(body: .json(try .init(run))))
    }

    func listRuns(_ input: Operations.ListRuns.Input) async throws -> Operations.ListRuns.Output {
        let workspaceID = try pathID(input.path.workspaceId, "workspaceId")
        try await context.require(.view, in: workspaceID)
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let pipelineID = try input.query.pipelineId.map { text throws(NvisyError) in try pathID(text, "pipelineId") }
        let result = try await deps.runs.list(workspaceID: workspaceID, pipelineID: pipelineID, status: input.query.status?.rawValue,
                                              after: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: try result.items.map(Components.Schemas.Run.init), nextCursor: PageRequest.encode(result.nextAfter)))))
    }

    func getRun(_ input: Operations.GetRun.Input) async throws -> Operations.GetRun.Output {
        let run = try await loadRun(input.path.runId, .view)
        return .ok(.init(body: .json(try .init(run))))
    }

    func cancelRun(_ input: Operations.CancelRun.Input) async throws -> Operations.CancelRun.Output {
        let existing = try await loadRun(input.path.runId, .runPipelines)
        guard let run = try await deps.runs.requestCancel(id: existing.id, event: { try RunEvents.event(for: $0) }) else {
            throw NvisyError.notFound("no run \(existing.id.text)")
        }
        if run.status.isFinal, run.status != .cancelled || !run.cancelRequested {
            throw NvisyError.conflict("run \(run.id.text) has already ended (\(run.status.rawValue)); there is nothing to cancel")
        }
        await record(run.workspaceID, try context.requireSignedIn(), "run.cancelled", targetType: "run", targetID: run.id,
                     details: ["pipeline": run.pipelineName])
        return .accepted(.init(body: .json(try .init(run))))
    }

    func runEvents(_ input: Operations.RunEvents.Input) async throws -> Operations.RunEvents.Output {
        throw NvisyError.internal("run events are served by RunEventsController")
    }

    func listRunErrors(_ input: Operations.ListRunErrors.Input) async throws -> Operations.ListRunErrors.Output {
        let run = try await loadRun(input.path.runId, .view)
        let limit = input.query.limit ?? PageRequest.defaultLimit
        guard (1...PageRequest.maximumLimit).contains(limit) else {
            throw NvisyError.invalidInput("limit must be from 1 to \(PageRequest.maximumLimit) (got \(limit))", pointer: "/limit")
        }
        var after: Int64?
        if let cursor = input.query.cursor, !cursor.isEmpty {
            guard let position = Self.errorPosition(cursor) else {
                throw NvisyError.invalidInput("cursor is not a cursor this server issued; pass nextCursor back unchanged", pointer: "/cursor")
            }
            after = position
        }
        let page: RunItemErrorPage
        do {
            page = try await runService().checkpoints.errors(run: run.id, limit: limit, after: after)
        } catch let error as NvisyError {
            throw error
        } catch {
            throw NvisyError.unavailable("the run's errors cannot be read now: \(error)")
        }
        let items = page.items.map {
            Components.Schemas.RunItemError(nodeId: $0.nodeId, itemToken: $0.itemToken, message: $0.message,
                                            retry: .init(rawValue: $0.retry.rawValue) ?? .permanent, at: $0.at)
        }
        return .ok(.init(body: .json(.init(items: items, nextCursor: page.next.map { Data("e1:\($0)".utf8).base64URLEncodedString() }))))
    }

    // MARK: Helpers

    /// Loads a run by id and checks `permission` in its workspace (404 for non-members).
    func loadRun(_ text: String, _ permission: Permission) async throws -> RunRecord {
        let id = try pathID(text, "runId")
        let context = try context
        _ = try context.requireSignedIn()
        guard let run = try await deps.runs.find(id: id) else { throw NvisyError.notFound("no run \(id.text)") }
        try await context.require(permission, in: run.workspaceID)
        return run
    }

    static func errorPosition(_ cursor: String) -> Int64? {
        guard cursor.utf8.count <= 200, let data = Data(base64URLEncoded: cursor), let text = String(data: data, encoding: .utf8),
              text.hasPrefix("e1:") else { return nil }
        return Int64(text.dropFirst(3))
    }
}

extension Components.Schemas.Run {
    init(_ record: RunRecord) throws {
        let progress = record.progressJSON.flatMap { json -> RunProgress? in
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try? decoder.decode(RunProgress.self, from: Data(json.utf8))
        }
        let running = record.status == .running
        let nodes = (progress?.nodes ?? []).map {
            Components.Schemas.RunNode(nodeId: $0.nodeId, kind: .init(rawValue: $0.kind.rawValue) ?? .transform, read: Int64($0.read),
                                       written: Int64($0.written), failed: Int64($0.failed), itemsPerSecond: running ? $0.itemsPerSecond : 0,
                                       expected: $0.expected.map(Int64.init))
        }
        var triggerDetail: OpenAPIObjectContainer?
        if let json = record.triggerDetailJSON { triggerDetail = try? APIHandler.spec(json, as: OpenAPIObjectContainer.self) }
        let elapsed = record.startedAt.map { (record.finishedAt ?? Date()).timeIntervalSince($0) }
        self.init(id: record.id.text, workspaceId: record.workspaceID.text, pipelineId: record.pipelineID?.text, pipelineName: record.pipelineName,
                  status: .init(rawValue: record.status.rawValue) ?? .failed, trigger: .init(rawValue: record.trigger) ?? .manual,
                  triggerDetail: triggerDetail, attempts: record.attempts, cancelRequested: record.cancelRequested,
                  definition: try APIHandler.spec(record.definitionJSON, as: Components.Schemas.PipelineDefinition.self),
                  read: record.itemsRead, written: record.itemsWritten, failed: record.itemsFailed,
                  itemsPerSecond: running ? (progress?.itemsPerSecond ?? 0) : 0, nodes: nodes,
                  error: record.error.map { .init(message: $0, retry: .init(rawValue: record.errorRetry ?? "permanent") ?? .permanent) },
                  createdAt: record.createdAt, startedAt: record.startedAt, finishedAt: record.finishedAt, elapsedSeconds: elapsed,
                  etaSeconds: running ? progress?.etaSeconds : nil)
    }
}
