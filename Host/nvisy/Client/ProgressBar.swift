import Foundation
import Synchronization

/// A one-line progress bar on stderr (`[#####-----]  42%  4.2 MiB / 10.0 MiB  3.1 MiB/s`),
/// redrawn at most ten times a second. Disabled (a no-op) when stderr is not a terminal.
final class ProgressBar: Sendable {
    let total: Int64
    let enabled: Bool
    let started = ContinuousClock.now
    /// The last redraw time; updates come from the HTTP client's thread, so it is guarded.
    let lastDraw = Mutex<ContinuousClock.Instant?>(nil)

    init(total: Int64, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    func update(_ sent: Int64, force: Bool = false) {
        guard enabled else { return }
        let now = ContinuousClock.now
        let draw = lastDraw.withLock { last -> Bool in
            if !force, let last, now - last < .milliseconds(100) { return false }
            last = now
            return true
        }
        guard draw else { return }
        let fraction = total > 0 ? min(1, Double(sent) / Double(total)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = max(0.001, Double((now - started).components.seconds) + Double((now - started).components.attoseconds) / 1e18)
        let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
            + String(format: "%3d%%", Int(fraction * 100))
            + "  \(Self.bytes(sent)) / \(Self.bytes(total))  \(Self.bytes(Int64(Double(sent) / elapsed)))/s"
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
    }

    func finish() {
        guard enabled else { return }
        update(total, force: true)
        FileHandle.standardError.write(Data("\n".utf8))
    }

    static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count), unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(count) B" : String(format: "%.1f ", value) + units[unit]
    }
}
