import Foundation
import NvisyPlugins
import Synchronization

/// One source item's claim on completion: counts the copies of it (and of what was derived
/// from it) still in the pipeline. At zero, every sink it was routed to has it (or it was
/// dropped by a filter, or recorded as an error), and its source's checkpoint may pass it.
final class Ticket: Sendable {
    let tracker: SourceTracker
    let seq: Int
    private let count = Atomic<Int>(1)

    init(tracker: SourceTracker, seq: Int) {
        self.tracker = tracker
        self.seq = seq
    }

    func retain(_ n: Int = 1) { count.add(n, ordering: .relaxed) }

    func release() {
        if count.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { tracker.complete(seq) }
    }
}

/// The source items an item derives from (one, or several when a provider transform took a batch).
enum Lineage: Sendable {
    case none
    case one(Ticket)
    case many([Ticket])

    func retain() {
        switch self {
        case .none: break
        case .one(let t): t.retain()
        case .many(let ts): for t in ts { t.retain() }
        }
    }

    func release() {
        switch self {
        case .none: break
        case .one(let t): t.release()
        case .many(let ts): for t in ts { t.release() }
        }
    }

    /// The union of the lineages of `flows` (each ticket once).
    static func union(_ flows: [Flow]) -> Lineage {
        var seen = Set<ObjectIdentifier>(), tickets: [Ticket] = []
        for f in flows {
            switch f.lineage {
            case .none: break
            case .one(let t): if seen.insert(ObjectIdentifier(t)).inserted { tickets.append(t) }
            case .many(let ts): for t in ts where seen.insert(ObjectIdentifier(t)).inserted { tickets.append(t) }
            }
        }
        switch tickets.count {
        case 0: return .none
        case 1: return .one(tickets[0])
        default: return .many(tickets)
        }
    }
}

/// An item in the pipeline with the source items it derives from.
struct Flow: Sendable {
    var item: ProviderItem
    var lineage: Lineage
}

/// Per source: numbers its items in read order and keeps the checkpoint — the resume token
/// of the last item of the longest completed prefix.
final class SourceTracker: Sendable {
    let nodeId: String
    private struct State {
        var nextSeq = 0
        var low = 0                       // lowest seq not completed
        var done = Set<Int>()             // completed seqs above `low`
        var tokens: [Int: Data] = [:]     // tokens of seqs ≥ low
        var checkpoint: Data?
        var completed = 0                 // items completed in this run
    }
    private let state: Mutex<State>

    init(nodeId: String, resumeToken: Data?) {
        self.nodeId = nodeId
        state = Mutex(State(checkpoint: resumeToken))
    }

    /// A ticket for the next item read, whose resume token is `token`.
    func ticket(token: Data) -> Ticket {
        let seq = state.withLock { s in
            let seq = s.nextSeq
            s.nextSeq += 1
            s.tokens[seq] = token
            return seq
        }
        return Ticket(tracker: self, seq: seq)
    }

    func complete(_ seq: Int) {
        state.withLock { s in
            s.completed += 1
            guard seq == s.low else { s.done.insert(seq); return }
            s.checkpoint = s.tokens.removeValue(forKey: seq)
            s.low += 1
            while s.done.remove(s.low) != nil {
                s.checkpoint = s.tokens.removeValue(forKey: s.low)
                s.low += 1
            }
        }
    }

    /// (checkpoint token, items completed in this run, items read but not completed).
    var snapshot: (token: Data?, completed: Int, pending: Int) {
        state.withLock { ($0.checkpoint, $0.completed, $0.nextSeq - $0.low - $0.done.count) }
    }
}
