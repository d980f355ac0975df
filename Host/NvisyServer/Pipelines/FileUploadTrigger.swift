import Foundation
import Logging
import NvisyCore
import NvisyPostgres
import NvisyRuntime

/// The `onFileUpload` trigger: after a file is uploaded, every enabled pipeline of its workspace
/// with `triggers.onFileUpload` gets a run (trigger `file`, detail `{fileId, name}`), which a
/// `workspace/files` source with `trigger: true` reads. A failure is logged and never fails the
/// upload; a run whose publish failed is queued later by the workers' orphan scan.
public struct FileUploadTrigger: Sendable {
    let pipelines: PipelineRepository
    let runs: RunRepository
    let service: RunService

    public init(pipelines: PipelineRepository, runs: RunRepository, service: RunService) {
        self.pipelines = pipelines
        self.runs = runs
        self.service = service
    }

    /// Starts the runs for `file`; answers their ids.
    @discardableResult
    public func fileUploaded(_ file: FileRecord, logger: Logger) async -> [UUID] {
        do {
            var started: [UUID] = []
            for pipeline in try await pipelines.onFileUpload(workspaceID: file.workspaceID) {
                let detail = APIHandler.json(["fileId": file.id.uuidString.lowercased(), "name": file.name])
                let run = try await runs.create(NewRun(workspaceID: file.workspaceID, pipelineID: pipeline.id, pipelineName: pipeline.name,
                                                       definitionJSON: pipeline.definitionJSON, trigger: "file", triggerDetailJSON: detail,
                                                       createdBy: file.createdBy))
                await service.enqueue(run.id, logger: logger)
                started.append(run.id)
            }
            if !started.isEmpty {
                logger.info("file upload started runs", metadata: ["file": "\(file.id.uuidString.lowercased())", "runs": "\(started.count)"])
            }
            return started
        } catch {
            logger.warning("the file upload trigger failed", metadata: ["file": "\(file.id.uuidString.lowercased())", "error": "\(error)"])
            return []
        }
    }
}
