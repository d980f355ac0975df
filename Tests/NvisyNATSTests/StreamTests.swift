import Foundation
import NvisyCore
import Testing
@testable import NvisyNATS

struct Job: StreamMessage, Equatable {
    static let stream = StreamDescription(name: "JOBS", subjects: ["jobs.>"], retention: .workQueue)
    static let subject = "jobs.run"
    var id: Int
    var name: String
}

struct Event: StreamMessage, Equatable {
    static let stream = StreamDescription(name: "EVENTS", subjects: ["events.>"], retention: .limits, maxAge: .seconds(3600))
    static let subject = "events.created"
    var n: Int
}

/// Same stream as Event, different payload: used to publish something undecodable.
struct NotAnEvent: StreamMessage {
    static let stream = Event.stream
    static let subject = Event.subject
    var text: String
}

@Suite struct StreamTests {
    @Test func publishConsumeAck() async throws {
        try await withNATS { conn, _ in
            let js = conn.jetStream
            try await js.ensureStream(for: Event.self)
            for i in 1...3 { try await js.publish(Event(n: i)) }
            let consumer = try await js.consumer(Event.self, durable: "reader")
            var seen: [Int] = []
            for try await m in consumer {
                seen.append(m.value.n)
                #expect(m.deliveryCount == 1)
                try await m.ack()
                if seen.count == 3 { break }
            }
            #expect(seen == [1, 2, 3])
            // Acked: nothing more for this consumer.
            #expect(try await consumer.fetch(max: 10, wait: .milliseconds(200)).isEmpty)
            // ensureStream again (update path) is fine.
            try await js.ensureStream(for: Event.self)
        }
    }

    @Test func nakRedeliversAndDoubleAckIsAConflict() async throws {
        try await withNATS { conn, _ in
            let js = conn.jetStream
            try await js.ensureStream(for: Event.self)
            try await js.publish(Event(n: 7))
            let consumer = try await js.consumer(Event.self, durable: "nak")
            let first = try #require(try await consumer.fetch(max: 1, wait: .seconds(2)).first)
            try await first.inProgress()
            try await first.nak(delay: .milliseconds(200))
            await #expect(throws: NvisyError.self) { try await first.ack() }
            let again = try #require(try await consumer.fetch(max: 1, wait: .seconds(3)).first)
            #expect(again.value == Event(n: 7))
            #expect(again.deliveryCount == 2)
            try await again.ack()
        }
    }

    @Test func dedupByMessageID() async throws {
        try await withNATS { conn, _ in
            let js = conn.jetStream
            try await js.ensureStream(for: Event.self)
            let a = try await js.publish(Event(n: 1), messageID: "m-1")
            let b = try await js.publish(Event(n: 1), messageID: "m-1")
            #expect(!a.duplicate)
            #expect(b.duplicate)
            #expect(a.sequence == b.sequence)
            #expect(try await js.streamInfo("EVENTS").messages == 1)
        }
    }

    @Test func workQueueRemovesAckedMessages() async throws {
        try await withNATS { conn, _ in
            let js = conn.jetStream
            try await js.ensureStream(for: Job.self)
            for i in 0..<5 { try await js.publish(Job(id: i, name: "j\(i)"), messageID: "job-\(i)") }
            #expect(try await js.streamInfo("JOBS").messages == 5)
            let consumer = try await js.consumer(Job.self, durable: "workers")
            let got = try await consumer.fetch(max: 5, wait: .seconds(2))
            #expect(got.map(\.value.id) == [0, 1, 2, 3, 4])
            for m in got { try await m.ack() }
            #expect(try await poll { try await js.streamInfo("JOBS").messages == 0 })
        }
    }

    @Test func unackedMessageOfAKilledConsumerIsRedelivered() async throws {
        try await withNATS { conn, server in
            let js = conn.jetStream
            try await js.ensureStream(for: Job.self)
            try await js.publish(Job(id: 42, name: "answer"))
            let options = ConsumerOptions(ackWait: .seconds(1))
            // A worker on its own connection takes the job and dies without acking.
            do {
                let worker = try await NATSConnection.connect(url: await server.url, logger: quietLogger)
                let c = try await worker.jetStream.consumer(Job.self, durable: "w", options: options)
                let m = try await c.fetch(max: 1, wait: .seconds(2))
                #expect(m.count == 1)
                await worker.close()
            }
            let c = try await js.consumer(Job.self, durable: "w", options: options)
            let again = try await c.fetch(max: 1, wait: .seconds(4))
            #expect(again.first?.value.id == 42)
            #expect(again.first?.deliveryCount == 2)
            try await again.first?.ack()
        }
    }

    @Test func undecodablePayloadIsTerminatedNotRedelivered() async throws {
        try await withNATS { conn, _ in
            let js = conn.jetStream
            try await js.ensureStream(for: Event.self)
            try await js.publish(NotAnEvent(text: "oops"))
            try await js.publish(Event(n: 2))
            let consumer = try await js.consumer(Event.self, durable: "strict", options: ConsumerOptions(ackWait: .seconds(1)))
            let got = try await consumer.fetch(max: 10, wait: .milliseconds(500))
            #expect(got.map(\.value.n) == [2])
            try await got.first?.ack()
            try await Task.sleep(for: .milliseconds(1500))  // past the ack wait: a nak'ed or unacked message would be back
            #expect(try await consumer.fetch(max: 10, wait: .milliseconds(300)).isEmpty)
        }
    }

    @Test func unknownStreamIsNotFound() async throws {
        try await withNATS { conn, _ in
            let js = conn.jetStream
            await #expect { try await js.streamInfo("NOPE") } throws: { ($0 as? NvisyError)?.kind == .notFound }
            await #expect { try await js.consumer(Event.self, durable: "x") } throws: { ($0 as? NvisyError)?.kind == .notFound }
            await #expect { try await js.publish(Event(n: 1)) } throws: { ($0 as? NvisyError)?.kind == .notFound }
            await #expect { try await js.streamInfo("bad name") } throws: { ($0 as? NvisyError)?.kind == .invalidInput }
        }
    }

    @Test func noAckedMessageLostWhenServerRestartsDuringPublishLoop() async throws {
        try await withNATS { conn, server in
            let js = conn.jetStream
            try await js.ensureStream(for: Job.self)
            var acked = Set<Int>()
            let total = 300
            for i in 0..<total {
                if i == 100 { await server.kill() }       // a crash, mid-loop
                if i == 103 { try await server.start() }  // back on the same port and store
                // Retry until acked; the message id makes retries safe.
                let deadline = ContinuousClock.now.advanced(by: .seconds(20))
                while true {
                    do {
                        try await js.publish(Job(id: i, name: "n"), messageID: "restart-\(i)")
                        acked.insert(i)
                        break
                    } catch let e as NvisyError where e.retry == .transient {
                        if ContinuousClock.now > deadline { throw e }
                        if i >= 100 && i < 103 { break } // server down: give up on these, they are not acked
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
            }
            #expect(acked.count >= total - 3)
            let consumer = try await js.consumer(Job.self, durable: "check")
            var stored = Set<Int>()
            while true {
                let batch = try await consumer.fetch(max: 256, wait: .milliseconds(500))
                if batch.isEmpty { break }
                for m in batch { stored.insert(m.value.id); try await m.ack() }
            }
            #expect(acked.isSubset(of: stored))
        }
    }

    @Test func maxDeliverStopsRedelivery() async throws {
        try await withNATS { conn, _ in
            let js = conn.jetStream
            try await js.ensureStream(for: Event.self)
            try await js.publish(Event(n: 1))
            let consumer = try await js.consumer(Event.self, durable: "capped", options: ConsumerOptions(maxDeliver: 2))
            for expected in 1...2 {
                let m = try #require(try await consumer.fetch(max: 1, wait: .seconds(2)).first)
                #expect(m.deliveryCount == UInt64(expected))
                try await m.nak()
            }
            #expect(try await consumer.fetch(max: 1, wait: .milliseconds(500)).isEmpty)
        }
    }

    @Test(.timeLimit(.minutes(1))) func consumerIteratorKeepsGoingAcrossAServerRestart() async throws {
        try await withNATS { conn, server in
            let js = conn.jetStream
            try await js.ensureStream(for: Job.self)
            let consumer = try await js.consumer(Job.self, durable: "steady", options: ConsumerOptions(fetchWait: .milliseconds(300)))
            let received = Task {
                var ids: [Int] = []
                for try await m in consumer {
                    ids.append(m.value.id)
                    try await m.ack()
                    if ids.count == 2 { break }
                }
                return ids
            }
            try await js.publish(Job(id: 1, name: "before"))
            try await Task.sleep(for: .milliseconds(300))
            await server.stop()
            try await server.start()
            #expect(try await poll(timeout: .seconds(10)) { conn.isConnected })
            // JetStream may need a moment after the restart: retry the publish.
            #expect(try await poll(timeout: .seconds(10)) {
                (try? await js.publish(Job(id: 2, name: "after"), messageID: "after-2")) != nil
            })
            #expect(try await received.value == [1, 2])
        }
    }
}
