import Foundation
import NvisyCore

/// What starts a pipeline's runs besides a user: a cron-like `schedule` and/or every uploaded
/// file (`onFileUpload`). Only enabled pipelines fire.
public struct PipelineTriggers: Sendable, Hashable, Codable {
    /// A ``CronSchedule`` (UTC), e.g. `"*/15 * * * *"` or `"@daily"`.
    public var schedule: String?
    /// Start a run (trigger `file`, detail `{fileId, name}`) for each file uploaded to the workspace.
    public var onFileUpload: Bool?

    public init(schedule: String? = nil, onFileUpload: Bool? = nil) {
        self.schedule = schedule
        self.onFileUpload = onFileUpload
    }

    /// Parses stored JSON (`{}` when empty or unreadable).
    public init(json: String) {
        self = (try? JSONDecoder().decode(PipelineTriggers.self, from: Data(json.utf8))) ?? PipelineTriggers()
    }

    /// The parsed schedule; a bad one is an error at `/triggers/schedule`.
    public func cron() throws(NvisyError) -> CronSchedule? {
        guard let schedule else { return nil }
        do {
            return try CronSchedule(schedule)
        } catch {
            throw NvisyError.invalidInput(error.message, pointer: "/triggers/schedule")
        }
    }

    /// When the schedule next fires after `date` (nil: no schedule).
    public func nextRun(after date: Date) -> Date? {
        (try? cron())??.next(after: date)
    }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
