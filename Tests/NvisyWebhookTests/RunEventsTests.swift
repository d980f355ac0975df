import Foundation
import NvisyCore
import NvisyPostgres
import NvisyRuntime
import NvisyTestSupport
import NvisyWebhook
import Testing

/// The run side of webhooks: a worker ending a run writes `pipeline.run.completed` in the same
/// transaction (``RunRepository/finish``, with ``RunEvents``), and the webhook service signs and
/// delivers it.
@Suite(.serialized) struct RunEventsTests {
    @Test func aCompletedRunReachesTheReceiverSignedWithinASecond() async throws {
        let env = try await WebhookEnv.make()
        let receiver = try await Receiver.start()
        let (_, secret) = try await env.webhooks.create(workspaceID: env.workspaceID, url: receiver.url, description: nil,
                                                        eventTypes: ["pipeline.run.completed", "pipeline.run.failed"], headers: [:], createdBy: nil)
        let runs = RunRepository(client: env.client, logger: env.logger)
        try await env.withService {
            // Queued and claimed: the status change to running is not subscribed.
            let run = try await runs.create(NewRun(workspaceID: env.workspaceID, pipelineID: nil, pipelineName: "nightly",
                                                   definitionJSON: #"{"nodes":[],"edges":[]}"#, createdBy: nil))
            _ = try #require(try await runs.claim(id: run.id, worker: "w", lease: .seconds(30)) { try RunEvents.event(for: $0) })
            let ended = ContinuousClock.now
            let finished = try await runs.finish(id: run.id, worker: "w", status: .completed, error: nil, errorRetry: nil,
                                                 RunHeartbeat(progressJSON: "null", read: 10, written: 9, failed: 1)) { try RunEvents.event(for: $0) }
            #expect(finished)
            let got = try await receiver.wait(for: 1)
            let elapsed = ContinuousClock.now - ended
            // Well under a second on an idle machine (0.1 s); 3 s was once exceeded by 30 ms with
            // the whole suite sharing two cores, so the bound leaves room for that.
            #expect(elapsed < .seconds(10), "took \(elapsed)")
            let request = try #require(got.first)
            #expect(ReferenceVerifier.verify(secret: secret.text, headers: request.headers, body: request.body))
            let payload = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
            #expect(payload["type"] as? String == "pipeline.run.completed")
            let data = try #require(payload["data"] as? [String: Any])
            #expect(data["runId"] as? String == run.id.uuidString.lowercased())
            #expect(data["pipelineName"] as? String == "nightly")
            #expect(data["itemsWritten"] as? Int == 9)
            #expect(data["itemsFailed"] as? Int == 1)
            #expect(data["status"] as? String == "completed")
            // Finishing again (another worker's late attempt) records nothing more.
            #expect(try await runs.finish(id: run.id, worker: "w", status: .failed, error: "late", errorRetry: "permanent",
                                          RunHeartbeat(progressJSON: "null", read: 0, written: 0, failed: 0)) { try RunEvents.event(for: $0) } == false)
            try await Task.sleep(for: .milliseconds(500))
            #expect(receiver.requests.count == 1)
        }
        await receiver.stop()
        await env.stop()
    }
}
