import Foundation
import NvisyPlugins
import Synchronization

/// One source item's claim on completion: counts the copies of it (and of what was derived
/// from it) still in the pipeline. At zero, every sink it was routed to has it (or it was
/// dropped by a filter, or recorded as an error), and its source's checkpoint may pass it.
///
/// A *derived* ticket stands for output `index` of the source item's expanding transform
/// (one row of a CSV file): it holds one claim on its parent, and its own completion lets the
/// checkpoint pass part of the source item (see ``SourceTracker``).
final class Ticket: Sendable {
    let tracker: SourceTracker
    let seq: Int
    /// The source item's ticket and this output's index in its expansion (nil: a source item).
    let parent: (ticket: Ticket, index: Int)?
    private let count = Atomic<Int>(1)

    init(tracker: SourceTracker, seq: Int) {
        self.tracker = tracker
        self.seq = seq
        parent = nil
    }

    /// Output `index` of `source`'s expansion; takes a claim on `source`.
    init(derivedFrom source: Ticket, index: Int) {
        source.retain()
        tracker = source.tracker
        seq = source.seq
        parent = (source, index)
    }

    func retain(_ n: Int = 1) { count.add(n, ordering: .relaxed) }

    func release() {
        guard count.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 else { return }
        if let parent {
            tracker.completeDerived(seq, index: parent.index)
            parent.ticket.release()
        } else {
            tracker.complete(seq)
        }
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
/// of the last item of the longest completed prefix, and, when the source's items expand
/// (a file into rows), how many leading outputs of the next item are complete too
/// (``PartialCheckpoint``), so that a resumed run skips them instead of writing them again.
final class SourceTracker: Sendable {
    let nodeId: String
    private struct State {
        var nextSeq = 0
        var low = 0                       // lowest seq not completed
        var done = Set<Int>()             // completed seqs above `low`
        var tokens: [Int: Data] = [:]     // tokens of seqs ≥ low
        var checkpoint: Data?
        var completed = 0                 // items completed in this run
        var progressed = 0                // items and derived outputs completed in this run
        var derived: [Int: Prefix] = [:]  // per seq ≥ low with outputs: their completed prefix
    }
    /// Completed outputs of one item: all below `low`, and `done` above it.
    private struct Prefix {
        var low = 0
        var done = Set<Int>()
    }
    private let state: Mutex<State>
    /// Outputs of the first item read that a resumed run skips (they were complete).
    let skipFirst: Int

    init(nodeId: String, resumeToken: Data?) {
        self.nodeId = nodeId
        let partial = resumeToken.map(PartialCheckpoint.init(decoding:))
        skipFirst = partial?.skip ?? 0
        var initial = State(checkpoint: partial?.token)
        if skipFirst > 0 { initial.derived[0] = Prefix(low: skipFirst) }
        state = Mutex(initial)
    }

    /// Whether output `index` of item `seq` was complete before this run resumed.
    func skips(_ seq: Int, index: Int) -> Bool { seq == 0 && index < skipFirst }

    /// Output `index` of item `seq`'s expansion reached every sink.
    func completeDerived(_ seq: Int, index: Int) {
        state.withLock { s in
            s.progressed += 1
            var p = s.derived[seq] ?? Prefix()
            if index == p.low {
                p.low += 1
                while p.done.remove(p.low) != nil { p.low += 1 }
            } else if index > p.low {
                p.done.insert(index)
            }
            s.derived[seq] = p
        }
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
            s.progressed += 1
            s.derived[seq] = nil
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

    /// Items and derived outputs completed in this run (what the checkpoint cadence counts).
    var progressed: Int { state.withLock { $0.progressed } }

    /// The checkpoint to save: the token, with the completed prefix of the next item's outputs.
    var savedToken: Data? {
        state.withLock { s in
            let skip = s.derived[s.low]?.low ?? 0
            return skip > 0 ? PartialCheckpoint(token: s.checkpoint, skip: skip).encoded : s.checkpoint
        }
    }
}
