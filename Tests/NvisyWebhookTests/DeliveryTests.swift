import Foundation
import NvisyCore
import NvisyPostgres
import NvisyTestSupport
import NvisyWebhook
import PostgresNIO
import Testing

@Suite(.serialized) struct DeliveryTests {
    @Test func signedEventVerifiesWithAReferenceVerifierAndStandardWebhooks() async throws {
        let env = try await WebhookEnv.make()
        let receiver = try await Receiver.start()
        let (hook, secret) = try await env.webhooks.create(workspaceID: env.workspaceID, url: receiver.url, description: "ci",
                                                           eventTypes: ["pipeline.run.*"], headers: ["x-team": "data"], createdBy: nil)
        #expect(secret.text.hasPrefix("whsec_"))
        // Stored sealed, never in the clear.
        #expect(hook.secretSealed && hook.secret != secret.bytes)
        try await env.withService {
            let started = ContinuousClock.now
            let event = try await env.emit("pipeline.run.completed")
            try await env.emit("file.uploaded")                     // not subscribed
            let got = try await receiver.wait(for: 1)
            let elapsed = ContinuousClock.now - started
            #expect(got.count == 1)
            let request = try #require(got.first)
            #expect(request.headers["webhook-id"] == event.id.uuidString.lowercased())
            #expect(request.headers["x-team"] == "data")
            #expect(request.headers["content-type"] == "application/json")
            #expect(ReferenceVerifier.verify(secret: secret.text, headers: request.headers, body: request.body))
            // A flipped byte fails.
            var tampered = request.body
            tampered[tampered.count / 2] ^= 1
            #expect(!ReferenceVerifier.verify(secret: secret.text, headers: request.headers, body: tampered))
            let payload = try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]
            #expect(payload?["type"] as? String == "pipeline.run.completed")
            #expect((payload?["data"] as? [String: Any])?["runId"] as? String == "0190a0a0-0000-7000-8000-000000000001")
            #expect(payload?["timestamp"] is String)
            try pythonVerify(secret: secret.text, request: request)
            // The delivery log.
            let ok = try await eventually {
                try await env.webhooks.repository.listDeliveries(webhookID: hook.id, before: nil, limit: 10).items.first?.status == .succeeded
            }
            #expect(ok)
            // Delivered by the first attempt: no timeout, no retry (≈ 0.1 s on an idle machine with
            // dispatch every 50 ms here). A wall-clock bound cannot tell that apart on a loaded CI
            // machine (3.2 s seen for a first-attempt delivery), and a retry here comes 0.3 s later.
            let delivery = try await env.webhooks.repository.listDeliveries(webhookID: hook.id, before: nil, limit: 10).items.first
            #expect(delivery?.attempts == 1 && delivery?.lastStatusCode == 200, "took \(elapsed): \(String(describing: delivery))")
            try await Task.sleep(for: .milliseconds(200))
            #expect(receiver.requests.count == 1)
        }
        await receiver.stop()
        await env.stop()
    }

    @Test func fiveHundredThreeTimesThenSuccessDeliversOnceWithTheSameID() async throws {
        let env = try await WebhookEnv.make()
        let receiver = try await Receiver.start(script: [(500, [:]), (500, [:]), (500, [:])], fallback: 200)
        let (hook, secret) = try await env.webhooks.create(workspaceID: env.workspaceID, url: receiver.url, description: nil,
                                                           eventTypes: ["*"], headers: [:], createdBy: nil)
        try await env.withService {
            let event = try await env.emit("pipeline.run.failed")
            let got = try await receiver.wait(for: 4)
            #expect(got.count == 4)
            #expect(Set(got.compactMap { $0.headers["webhook-id"] }) == [event.id.uuidString.lowercased()])
            #expect(got.allSatisfy { ReferenceVerifier.verify(secret: secret.text, headers: $0.headers, body: $0.body) })
            // Backoff between attempts: 300, 600, 900 ms.
            for (index, gap) in zip(got.dropFirst(), got).map({ $0.at.timeIntervalSince($1.at) }).enumerated() {
                #expect(gap >= 0.3 * Double(index + 1) - 0.05, "gap \(index) was \(gap) s")
            }
            let done = try await eventually {
                try await env.webhooks.repository.listDeliveries(webhookID: hook.id, before: nil, limit: 10).items.first?.status == .succeeded
            }
            #expect(done)
            let delivery = try #require(try await env.webhooks.repository.listDeliveries(webhookID: hook.id, before: nil, limit: 10).items.first)
            #expect(delivery.attemptLog.map(\.statusCode) == [500, 500, 500, 200])
            #expect(delivery.attemptLog.prefix(3).allSatisfy { $0.nextRetryAt != nil })
            try await Task.sleep(for: .milliseconds(500))
            #expect(receiver.requests.count == 4, "delivered exactly once after success")
        }
        await receiver.stop()
        await env.stop()
    }

    @Test func receiverDownRecordsAttemptsWithBackoffThenFails() async throws {
        // AsyncHTTPClient keeps trying to connect until the request's deadline: keep it short.
        let env = try await WebhookEnv.make { $0.timeout = .milliseconds(500) }
        let port = try FreePort.loopback()
        let (hook, _) = try await env.webhooks.create(workspaceID: env.workspaceID, url: "http://127.0.0.1:\(port)/hook", description: nil,
                                                      eventTypes: ["*"], headers: [:], createdBy: nil)
        try await env.withService {
            try await env.emit("file.uploaded")
            let failed = try await eventually(timeout: .seconds(15)) {
                try await env.webhooks.repository.listDeliveries(webhookID: hook.id, before: nil, limit: 10).items.first?.status == .failed
            }
            #expect(failed)
            let delivery = try #require(try await env.webhooks.repository.listDeliveries(webhookID: hook.id, before: nil, limit: 10).items.first)
            #expect(delivery.attemptLog.count == 4)
            #expect(delivery.attemptLog.allSatisfy { $0.statusCode == nil && $0.error != nil })
            let times = delivery.attemptLog.map(\.attemptedAt)
            for (index, gap) in zip(times.dropFirst(), times).map({ $0.timeIntervalSince($1) }).enumerated() {
                #expect(gap >= 0.3 * Double(index + 1) - 0.05, "gap \(index) was \(gap) s")
            }
            #expect(delivery.attemptLog.last?.nextRetryAt == nil)
        }
        await env.stop()
    }

    @Test func fourHundredIsPermanentButTooManyRequestsHonoursRetryAfter() async throws {
        let env = try await WebhookEnv.make()
        let receiver = try await Receiver.start(script: [(429, ["retry-after": "1"]), (404, [:])])
        let (hook, _) = try await env.webhooks.create(workspaceID: env.workspaceID, url: receiver.url, description: nil,
                                                      eventTypes: ["*"], headers: [:], createdBy: nil)
        try await env.withService {
            try await env.emit("file.deleted")
            let got = try await receiver.wait(for: 2)
            #expect(got.count == 2)
            if got.count == 2 { #expect(got[1].at.timeIntervalSince(got[0].at) >= 0.95) }
            let failed = try await eventually {
                try await env.webhooks.repository.listDeliveries(webhookID: hook.id, before: nil, limit: 10).items.first?.status == .failed
            }
            #expect(failed)
            try await Task.sleep(for: .milliseconds(800))
            #expect(receiver.requests.count == 2, "a 404 is not retried")
        }
        await receiver.stop()
        await env.stop()
    }

    @Test func hostKilledAfterCommitDeliversAfterRestart() async throws {
        let env = try await WebhookEnv.make()
        let receiver = try await Receiver.start()
        let (_, secret) = try await env.webhooks.create(workspaceID: env.workspaceID, url: receiver.url, description: nil,
                                                        eventTypes: ["*"], headers: [:], createdBy: nil)
        // The change and its event commit while no host delivers (the host died right after the commit).
        let event = try await env.emit("pipeline.run.completed")
        try await Task.sleep(for: .milliseconds(300))
        #expect(receiver.requests.isEmpty)
        // A host that crashed after publishing but before marking the row: the event goes out twice, JetStream keeps one.
        try await env.connection.jetStream.ensureStream(WebhookStream.description)
        try await env.connection.jetStream.publish(
            WebhookEventMessage(id: event.id, workspaceID: event.workspaceID, type: event.type, timestamp: event.createdAt, data: event.dataJSON),
            messageID: event.id.uuidString)
        // Restart.
        try await env.withService {
            let got = try await receiver.wait(for: 1)
            #expect(got.count == 1)
            #expect(got.first?.headers["webhook-id"] == event.id.uuidString.lowercased())
            #expect(got.first.map { ReferenceVerifier.verify(secret: secret.text, headers: $0.headers, body: $0.body) } == true)
            try await Task.sleep(for: .milliseconds(500))
            #expect(receiver.requests.count == 1)
        }
        await receiver.stop()
        await env.stop()
    }

    @Test func rotationSignsWithBothSecretsDuringTheGracePeriod() async throws {
        let env = try await WebhookEnv.make()
        let receiver = try await Receiver.start()
        let (hook, old) = try await env.webhooks.create(workspaceID: env.workspaceID, url: receiver.url, description: nil,
                                                        eventTypes: ["*"], headers: [:], createdBy: nil)
        let (_, fresh) = try await env.webhooks.rotateSecret(hook, grace: .seconds(2))
        #expect(fresh != old)
        try await env.withService {
            try await env.emit("member.joined")
            let first = try #require(try await receiver.wait(for: 1).first)
            #expect(first.headers["webhook-signature"]?.split(separator: " ").count == 2)
            #expect(ReferenceVerifier.verify(secret: old.text, headers: first.headers, body: first.body))
            #expect(ReferenceVerifier.verify(secret: fresh.text, headers: first.headers, body: first.body))
            try pythonVerify(secret: old.text, request: first)
            try pythonVerify(secret: fresh.text, request: first)
            try await Task.sleep(for: .milliseconds(2100))
            try await env.emit("member.joined")
            let got = try await receiver.wait(for: 2)
            let second = try #require(got.count == 2 ? got[1] : nil)
            #expect(second.headers["webhook-signature"]?.split(separator: " ").count == 1)
            #expect(ReferenceVerifier.verify(secret: fresh.text, headers: second.headers, body: second.body))
            #expect(!ReferenceVerifier.verify(secret: old.text, headers: second.headers, body: second.body))
        }
        await receiver.stop()
        await env.stop()
    }

    @Test func endpointFailingLongerThanTheLimitIsPausedWithAnActivity() async throws {
        let env = try await WebhookEnv.make { $0.autoPauseAfter = .milliseconds(500) }
        let receiver = try await Receiver.start(fallback: 503)
        let (hook, _) = try await env.webhooks.create(workspaceID: env.workspaceID, url: receiver.url, description: nil,
                                                      eventTypes: ["*"], headers: [:], createdBy: nil)
        try await env.withService {
            try await env.emit("pipeline.run.failed")
            let paused = try await eventually { try await env.webhooks.repository.find(id: hook.id)?.status == .paused }
            #expect(paused)
            let activities = try await ActivityRepository(client: env.client, logger: env.logger).list(workspaceID: env.workspaceID, before: nil, limit: 10)
            #expect(activities.items.contains { $0.action == "webhook.paused" && $0.targetID == hook.id })
            // Manual test and retry still work on the delivery log.
            let delivery = try #require(try await env.webhooks.repository.listDeliveries(webhookID: hook.id, before: nil, limit: 5).items.first)
            #expect(delivery.attempts >= 2)
        }
        await receiver.stop()
        await env.stop()
    }

    @Test func testEventAndManualRetry() async throws {
        let env = try await WebhookEnv.make()
        let receiver = try await Receiver.start(script: [(410, [:])])
        let (hook, secret) = try await env.webhooks.create(workspaceID: env.workspaceID, url: receiver.url, description: nil,
                                                           eventTypes: ["file.uploaded"], headers: [:], createdBy: nil)
        try await env.withService {
            let delivery = try await env.webhooks.sendTest(hook)
            let failed = try await eventually { try await env.webhooks.repository.findDelivery(id: delivery.id)?.status == .failed }
            #expect(failed)
            let retried = try await env.webhooks.retry(try #require(try await env.webhooks.repository.findDelivery(id: delivery.id)))
            #expect(retried.status == .pending)
            let ok = try await eventually { try await env.webhooks.repository.findDelivery(id: delivery.id)?.status == .succeeded }
            #expect(ok)
            let got = receiver.requests
            #expect(got.count == 2)
            #expect(Set(got.compactMap { $0.headers["webhook-id"] }).count == 1)
            #expect(got.allSatisfy { ReferenceVerifier.verify(secret: secret.text, headers: $0.headers, body: $0.body) })
            let body = try JSONSerialization.jsonObject(with: Data(got[0].body)) as? [String: Any]
            #expect(body?["type"] as? String == "webhook.test")
        }
        await receiver.stop()
        await env.stop()
    }
}

/// Verifies with PyPI `standardwebhooks` from the venv, when it is installed.
func pythonVerify(secret: String, request: Received) throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let python = root.appendingPathComponent(".venv/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: python) else { return }
    let script = """
        import sys, json
        try:
            from standardwebhooks.webhooks import Webhook
        except ImportError:
            sys.exit(77)
        secret, headers = sys.argv[1], json.loads(sys.argv[2])
        body = sys.stdin.buffer.read()
        Webhook(secret).verify(body, headers)
        print("ok")
        """
    let headers = String(decoding: try JSONSerialization.data(withJSONObject: request.headers.filter { $0.key.hasPrefix("webhook-") }), as: UTF8.self)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = ["-c", script, secret, headers]
    let input = Pipe(), output = Pipe(), errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    input.fileHandleForWriting.write(Data(request.body))
    try input.fileHandleForWriting.close()
    process.waitUntilExit()
    if process.terminationStatus == 77 { return }   // standardwebhooks not installed
    let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    #expect(process.terminationStatus == 0, "standardwebhooks refused the signature: \(err)")
}
