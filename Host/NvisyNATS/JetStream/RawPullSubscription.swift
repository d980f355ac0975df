import CNats
import Foundation
import NvisyCore

/// A nats.c pull subscription and the fetch loop shared by typed consumers and object reads.
///
/// `@unchecked Sendable`: `sub` is immutable and nats.c subscriptions are thread-safe
/// (see CHandle); `fetchLock` makes fetches on one subscription run one at a time,
/// because a pull subscription serves one outstanding fetch request; the
/// subscription is destroyed only in deinit.
final class RawPullSubscription: @unchecked Sendable {
    let sub: CHandle
    let connection: NATSConnection
    let what: String
    private let fetchLock = NSLock()

    init(sub: CHandle, connection: NATSConnection, what: String) {
        self.sub = sub
        self.connection = connection
        self.what = what
    }

    deinit {
        natsSubscription_Destroy(sub.raw)
    }

    enum FetchResult: Sendable {
        case messages([CHandle])
        /// Nothing arrived before the wait ran out.
        case empty
        /// NATS is reconnecting or the consumer is briefly unreachable: try again shortly.
        case retryLater(String)
    }

    /// One fetch of up to `batch` messages, waiting at most `wait`. Runs on a blocking thread.
    func fetch(batch: Int, wait: Duration) async throws -> FetchResult {
        try await Blocking.run { [self] in try fetchSync(batch: batch, wait: wait) }
    }

    /// ``fetch(batch:wait:)`` on the calling thread: call it on a blocking thread only.
    func fetchSync(batch: Int, wait: Duration) throws -> FetchResult {
        do {
            fetchLock.lock()
            defer { fetchLock.unlock() }
            var list = natsMsgList()
            var err = jsErrCode(rawValue: 0)
            // natsSubscription_Fetch returns as soon as the server says nothing more
            // is pending, so a lone message is not held back until `wait` runs out.
            let s = natsSubscription_Fetch(&list, sub.raw, Int32(batch), wait.milliseconds, &err)
            if list.Count > 0 {
                var out: [CHandle] = []
                out.reserveCapacity(Int(list.Count))
                for i in 0..<Int(list.Count) {
                    if let m = list.Msgs[i] { out.append(CHandle(m)); list.Msgs[i] = nil }
                }
                natsMsgList_Destroy(&list)
                return .messages(out)
            }
            natsMsgList_Destroy(&list)
            switch s {
            case NATS_OK, NATS_TIMEOUT:
                return .empty
            case NATS_CONNECTION_CLOSED, NATS_INVALID_SUBSCRIPTION:
                throw NATSStatus.error(s, "fetch from \(what)")
            case NATS_NOT_FOUND:
                throw NvisyError(.notFound, "fetch from \(what): the consumer or stream no longer exists")
            default:
                return .retryLater(NATSStatus.text(s))
            }
        }
    }

    func unsubscribe() async {
        let sub = self.sub
        await Blocking.run { _ = natsSubscription_Unsubscribe(sub.raw) }
    }
}
