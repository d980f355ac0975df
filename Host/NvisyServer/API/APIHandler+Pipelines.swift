import Foundation
import NvisyCore
import NvisyPostgres
import NvisyRuntime
import OpenAPIRuntime

/// Pipelines: a definition (checked by the runtime's compiler against the workspace's
/// connections and the loaded providers), a status, and triggers. Drafts may be incomplete;
/// enabling requires a definition that compiles.
extension APIHandler {
    func createPipeline(_ input: Operations.CreatePipeline.Input) async throws -> Operations.CreatePipeline.Output {
        let workspaceID = try pathID(input.path.workspaceId, "workspaceId")
        let context = try context
        let me = try context.requireSignedIn()
        try await context.require(.editContent, in: workspaceID)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let name = check.text(body.name, at: "/name", max: 100) ?? ""
        let description = check.text(body.description, at: "/description", min: 0, max: 1000)
        let definition = try Self.definition(body.definition)
        let triggers = try Self.triggers(body.triggers)
        check.storableJSON(Self.json(definition), at: "/definition")
        check.storableJSON(triggers.json, at: "/triggers")
        try check.check()
        let status = body.status?.rawValue ?? "draft"
        if status == "enabled" { try await requireCompiles(definition, in: workspaceID) }
        let saved = try await deps.pipelines.create(
            workspaceID: workspaceID, name: name, description: description, status: status, definitionJSON: Self.json(definition),
            triggersJSON: triggers.json, nextRunAt: status == "enabled" ? triggers.nextRun(after: Date()) : nil, createdBy: me.accountID)
        await record(workspaceID, me, "pipeline.created", targetType: "pipeline", targetID: saved.id, details: ["name": name, "status": status])
        return .created(.init(body: .json(try .init(saved))))
    }

    func listPipelines(_ input: Operations.ListPipelines.Input) async throws -> Operations.ListPipelines.Output {
        let workspaceID = try pathID(input.path.workspaceId, "workspaceId")
        try await context.require(.view, in: workspaceID)
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let result = try await deps.pipelines.list(workspaceID: workspaceID, status: input.query.status?.rawValue, after: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: try result.items.map(Components.Schemas.Pipeline.init), nextCursor: PageRequest.encode(result.nextAfter)))))
    }

    func getPipeline(_ input: Operations.GetPipeline.Input) async throws -> Operations.GetPipeline.Output {
        let pipeline = try await loadPipeline(input.path.pipelineId, .view)
        return .ok(.init(body: .json(try .init(pipeline))))
    }

    func updatePipeline(_ input: Operations.UpdatePipeline.Input) async throws -> Operations.UpdatePipeline.Output {
        let existing = try await loadPipeline(input.path.pipelineId, .editContent)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let name = check.text(body.name, at: "/name", max: 100)
        let description = check.text(body.description, at: "/description", min: 0, max: 1000)
        let definition = try body.definition.map(Self.definition)
        let triggers = try body.triggers.map(Self.triggers) ?? PipelineTriggers(json: existing.triggersJSON)
        if let definition { check.storableJSON(Self.json(definition), at: "/definition") }
        check.storableJSON(triggers.json, at: "/triggers")
        try check.check()
        let status = body.status?.rawValue ?? existing.status
        if status == "enabled", definition != nil || existing.status != "enabled" {
            let effective = try definition ?? Self.storedDefinition(existing.definitionJSON)
            try await requireCompiles(effective, in: existing.workspaceID)
        }
        guard let saved = try await deps.pipelines.update(
            id: existing.id, name: name, description: description, status: body.status?.rawValue, definitionJSON: definition.map(Self.json),
            triggersJSON: body.triggers == nil ? nil : triggers.json,
            nextRunAt: status == "enabled" ? triggers.nextRun(after: Date()) : nil) else {
            throw NvisyError.notFound("no pipeline \(existing.id.text)")
        }
        var details: [String: String] = [:]
        if let name { details["name"] = name }
        if let s = body.status { details["status"] = s.rawValue }
        if definition != nil { details["definition"] = "changed" }
        if body.triggers != nil { details["triggers"] = "changed" }
        await record(existing.workspaceID, try context.requireSignedIn(), "pipeline.updated", targetType: "pipeline", targetID: existing.id, details: details)
        return .ok(.init(body: .json(try .init(saved))))
    }

    func deletePipeline(_ input: Operations.DeletePipeline.Input) async throws -> Operations.DeletePipeline.Output {
        let existing = try await loadPipeline(input.path.pipelineId, .editContent)
        guard try await deps.pipelines.delete(id: existing.id) else { throw NvisyError.notFound("no pipeline \(existing.id.text)") }
        await record(existing.workspaceID, try context.requireSignedIn(), "pipeline.deleted", targetType: "pipeline", targetID: existing.id,
                     details: ["name": existing.name])
        return .noContent(.init())
    }

    func validatePipeline(_ input: Operations.ValidatePipeline.Input) async throws -> Operations.ValidatePipeline.Output {
        let pipeline = try await loadPipeline(input.path.pipelineId, .view)
        let service = try runService()
        let definition = try Self.storedDefinition(pipeline.definitionJSON)
        do {
            let plan = try await service.compiler(for: pipeline.workspaceID).compile(definition)
            return .ok(.init(body: .json(.init(valid: true, problems: [], steps: plan.steps.map(\.id)))))
        } catch let error as PipelineCompileError {
            return .ok(.init(body: .json(.init(valid: false, problems: error.problems.map(Components.Schemas.PipelineProblem.init)))))
        } catch let error as NvisyError {
            throw error
        } catch {
            throw NvisyError.unavailable("the pipeline cannot be checked now: \(error)")
        }
    }

    // MARK: Helpers

    /// Loads a pipeline by id and checks `permission` in its workspace (404 for non-members).
    func loadPipeline(_ text: String, _ permission: Permission) async throws -> PipelineRecord {
        let id = try pathID(text, "pipelineId")
        let context = try context
        _ = try context.requireSignedIn()
        guard let pipeline = try await deps.pipelines.find(id: id) else { throw NvisyError.notFound("no pipeline \(id.text)") }
        try await context.require(permission, in: pipeline.workspaceID)
        return pipeline
    }

    func runService() throws(NvisyError) -> RunService {
        guard let service = deps.runService else { throw NvisyError.unavailable("pipelines cannot run on this host (no plugins or no queue)") }
        return service
    }

    /// Throws a 400 listing every problem (pointers under `/definition`) unless `definition` compiles.
    func requireCompiles(_ definition: PipelineDefinition, in workspaceID: UUID) async throws {
        let problems = try await runService().problems(definition, in: workspaceID)
        guard !problems.isEmpty else { return }
        throw NvisyError.invalidInput(
            "the pipeline does not compile (\(problems.count) problem\(problems.count == 1 ? "" : "s")): \(problems[0].message)",
            fields: problems.map { .init(pointer: "/definition" + $0.pointer, message: $0.message) })
    }

    /// The spec's definition as the runtime's.
    static func definition(_ value: Components.Schemas.PipelineDefinition) throws(NvisyError) -> PipelineDefinition {
        do {
            return try JSONDecoder().decode(PipelineDefinition.self, from: JSONEncoder().encode(value))
        } catch {
            throw NvisyError.invalidInput("the definition is not a pipeline graph: \(error)", pointer: "/definition")
        }
    }

    static func storedDefinition(_ json: String) throws(NvisyError) -> PipelineDefinition {
        do { return try JSONDecoder().decode(PipelineDefinition.self, from: Data(json.utf8)) } catch {
            throw NvisyError.internal("a stored pipeline definition cannot be read: \(error)")
        }
    }

    static func triggers(_ value: Components.Schemas.PipelineTriggers?) throws(NvisyError) -> PipelineTriggers {
        guard let value else { return PipelineTriggers() }
        let triggers = PipelineTriggers(schedule: value.schedule, onFileUpload: value.onFileUpload)
        _ = try triggers.cron()
        return triggers
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// Stored JSON as a spec type.
    static func spec<T: Decodable>(_ json: String, as type: T.Type) throws(NvisyError) -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(json.utf8)) } catch {
            throw NvisyError.internal("stored JSON does not fit \(T.self): \(error)")
        }
    }
}

extension Components.Schemas.Pipeline {
    init(_ record: PipelineRecord) throws {
        let triggers = PipelineTriggers(json: record.triggersJSON)
        self.init(id: record.id.text, workspaceId: record.workspaceID.text, name: record.name, description: record.description,
                  status: .init(rawValue: record.status) ?? .draft,
                  definition: try APIHandler.spec(record.definitionJSON, as: Components.Schemas.PipelineDefinition.self),
                  triggers: .init(schedule: triggers.schedule, onFileUpload: triggers.onFileUpload),
                  nextRunAt: record.nextRunAt, createdAt: record.createdAt, updatedAt: record.updatedAt)
    }
}

extension Components.Schemas.PipelineProblem {
    init(_ problem: PipelineProblem) {
        self.init(code: problem.code.rawValue, nodeId: problem.nodeId, pointer: problem.pointer, message: problem.message)
    }
}
