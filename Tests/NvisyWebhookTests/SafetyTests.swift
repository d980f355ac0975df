import Foundation
import Logging
import NvisyCore
import NvisyWebhook
import Testing

@Suite struct SafetyTests {
    @Test func internalAddressesAreRecognised() {
        for address in ["127.0.0.1", "127.8.9.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                         "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00::1",
                         "::ffff:127.0.0.1", "::ffff:10.0.0.1", "not an address"] {
            #expect(AddressGuard.isInternal(address), "\(address)")
        }
        for external in ["1.1.1.1", "8.8.8.8", "172.32.0.1", "93.184.216.34", "2606:4700:4700::1111"] {
            #expect(!AddressGuard.isInternal(external), "\(external)")
        }
    }

    @Test func refusesLoopbackPrivateAndLinkLocalTargetsWhenEnabled() async throws {
        let receiver = try await Receiver.start()
        var settings = WebhookSettings()
        settings.allowPrivateAddresses = false
        settings.timeout = .seconds(2)
        let sender = WebhookSender(settings: settings, logger: Logger(label: "t"))
        for url in [receiver.url, "http://localhost:\(receiver.port)/hook", "http://10.0.0.7/hook", "http://169.254.169.254/latest/meta-data",
                    "http://[::1]:\(receiver.port)/hook"] {
            let result = await sender.send(url: url, headers: [], body: Array("{}".utf8))
            #expect(result.verdict == .permanent, "\(url)")
            #expect(result.error?.contains("refused") == true, "\(url): \(result.error ?? "")")
        }
        #expect(receiver.requests.isEmpty)
        // Switched off (tests, embedded dev mode): loopback is reachable.
        var open = settings
        open.allowPrivateAddresses = true
        let allowed = WebhookSender(settings: open, logger: Logger(label: "t"))
        let result = await allowed.send(url: receiver.url, headers: [], body: Array("{}".utf8))
        #expect(result.verdict == .success)
        await sender.shutdown()
        await allowed.shutdown()
        await receiver.stop()
    }

    @Test func urlsAreValidated() {
        #expect(throws: NvisyError.self) { try WebhookURL.validate("ftp://example.com/x") }
        #expect(throws: NvisyError.self) { try WebhookURL.validate("file:///etc/passwd") }
        #expect(throws: NvisyError.self) { try WebhookURL.validate("https://user:pw@example.com/") }
        #expect(throws: NvisyError.self) { try WebhookURL.validate("/relative") }
        #expect((try? WebhookURL.validate("https://example.com/hooks?x=1")) != nil)
    }

    @Test func signerMatchesTheStandardWebhooksExample() throws {
        // The example from the Standard Webhooks specification's reference libraries.
        let secret = try WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let body = Array(#"{"test": 2432232314}"#.utf8)
        let signature = WebhookSigner.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1614265330, body: body, secret: secret)
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        #expect(WebhookSigner.verify(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1614265330, body: body, header: "v1,bad " + signature,
                                     secret: secret, now: Date(timeIntervalSince1970: 1614265330)))
    }

    @Test func backoffScheduleJitterAndRetryAfter() {
        var settings = WebhookSettings()
        #expect(settings.maxAttempts == 8)
        settings.jitter = 0
        #expect(settings.delay(afterAttempt: 1) == .seconds(5))
        #expect(settings.delay(afterAttempt: 7) == .seconds(12 * 3600))
        #expect(settings.delay(afterAttempt: 8) == nil)
        #expect(settings.delay(afterAttempt: 1, retryAfter: .seconds(90)) == .seconds(90))
        #expect(settings.delay(afterAttempt: 1, retryAfter: .seconds(999_999)) == .seconds(6 * 3600))
        settings.jitter = 0.2
        for _ in 0..<50 {
            let d = settings.delay(afterAttempt: 2)!
            #expect(d >= .seconds(24) && d <= .seconds(36))
        }
    }
}
