import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NvisyCore
import NvisyPostgres

/// `GET /api/v1/runs/{runId}/events`: the run as Server-Sent Events, written by hand because
/// the answer is an open-ended stream. The run is read from Postgres every second (workers on
/// any host write its progress there every heartbeat), so the stream works wherever the run
/// executes:
///
/// - `progress` — the run (as `GET /runs/{id}` answers it) at once, then whenever it changed;
/// - `status` — on each status change (queued → running → completed/failed/cancelled);
/// - `end` — once, with the final run; then the stream closes.
///
/// A comment line every 15 s keeps proxies from closing an idle stream. The request timeout does
/// not apply; the stream ends when the run ends or the client goes away.
struct RunEventsController {
    let api: APIDependencies
    /// How often the run is read.
    var interval: Duration = .seconds(1)

    static let operations: Set<String> = ["GET /api/v1/runs/{runId}/events"]

    static func isStreaming(_ request: Request) -> Bool {
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
        return request.method == .get && parts.count == 5 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "runs" && parts[4] == "events"
    }

    func addRoutes(to router: Router<NvisyRequestContext>) {
        router.get("/api/v1/runs/:runId/events") { request, context in try await events(request, context) }
    }

    func events(_ request: Request, _ context: NvisyRequestContext) async throws -> Response {
        let id = try pathID(context.parameters.get("runId") ?? "", "runId")
        _ = try context.requireSignedIn()
        guard let first = try await api.runs.find(id: id) else { throw NvisyError.notFound("no run \(id.text)") }
        try await context.require(.view, in: first.workspaceID)
        let runs = api.runs
        let interval = self.interval
        let logger = context.logger
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        let body = ResponseBody { writer in
            var sequence = 0
            func send(_ event: String, _ run: RunRecord) async throws {
                sequence += 1
                let data = try JSONEncoder.api.encode(Components.Schemas.Run(run))
                var text = "id: \(sequence)\nevent: \(event)\ndata: "
                text += String(decoding: data, as: UTF8.self)
                text += "\n\n"
                try await writer.write(ByteBuffer(string: text))
            }
            var last = first
            var lastJSON = ""
            var idle = ContinuousClock.now
            try await send("status", first)
            try await send("progress", first)
            while !last.status.isFinal {
                try await Task.sleep(for: interval)
                let now: RunRecord
                do {
                    guard let found = try await runs.find(id: id) else { break }
                    now = found
                } catch {
                    logger.debug("run events: cannot read the run; trying again", metadata: ["error": "\(error)"])
                    continue
                }
                if now.status != last.status { try await send("status", now) }
                let json = (now.progressJSON ?? "") + "\(now.status.rawValue)\(now.cancelRequested)\(now.attempts)"
                if json != lastJSON, !now.status.isFinal {
                    try await send("progress", now)
                    lastJSON = json
                    idle = .now
                } else if ContinuousClock.now - idle > .seconds(15) {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    idle = .now
                }
                last = now
            }
            try await send("end", last)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}
