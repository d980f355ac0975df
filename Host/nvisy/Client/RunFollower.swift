import ArgumentParser
import Foundation
import NvisyCore

/// Follows a run's event stream (`GET /runs/{id}/events`) and shows its progress: on a terminal
/// a block of lines redrawn in place (totals, then read/written/failed per node), otherwise
/// one line per update so logs stay readable. With `--json` it prints only the final run.
/// The run's outcome becomes the exit code: 0 when completed, 1 otherwise.
struct RunFollower {
    let client: APIClient
    let json: Bool
    /// Redraw in place (stdout is a terminal) or append lines.
    var live = isatty(STDOUT_FILENO) == 1
    var drawnLines = 0
    let started = ContinuousClock.now

    init(client: APIClient, json: Bool) {
        self.client = client
        self.json = json
    }

    /// Follows `runID` to its end; throws `ExitCode.failure` unless it completed.
    mutating func follow(_ runID: String) async throws {
        var final: JSONValue?
        var follower = self
        try await client.events("/api/v1/runs/\(runID)/events") { name, data in
            guard let run = try? JSONDecoder().decode(JSONValue.self, from: Data(data.utf8)) else { return true }
            switch name {
            case "end":
                final = run
                return false
            case "progress", "status":
                if !follower.json { follower.show(run, event: name) }
                return true
            default:
                return true
            }
        }
        self = follower
        // A stream cut short (server restart, proxy) falls back to reading the run itself.
        let run: JSONValue
        if let final { run = final } else { run = try await client.get("/api/v1/runs/\(runID)") }
        if json {
            try Output.json(run)
        } else {
            if live { show(run, event: "end") }
            print(Self.summary(run))
            if let message = run["error"]?["message"]?.stringValue {
                print("error (\(run["error"]?["retry"]?.stringValue ?? "-")): \(message)")
            }
            if (run["failed"]?.doubleValue ?? 0) > 0 { print("failed items: nvisy runs errors \(runID)") }
        }
        fflush(nil)
        if run["status"]?.stringValue != "completed" { throw ExitCode.failure }
    }

    /// Shows one update: redrawn in place on a terminal, one line otherwise.
    mutating func show(_ run: JSONValue, event: String) {
        let elapsed = Self.elapsed(run) ?? seconds(ContinuousClock.now - started)
        if !live {
            print(Self.line(run, elapsed: elapsed))
            fflush(nil)
            return
        }
        var lines = [Self.line(run, elapsed: elapsed)]
        let nodes = (run["nodes"]?.arrayValue ?? []).map { node in
            [Output.text(node, "nodeId"), Output.text(node, "kind"),
             Output.text(node, "read") + (node["expected"]?.doubleValue.map { " / \(Int($0))" } ?? ""), Output.text(node, "written"),
             Output.text(node, "failed"), String(format: "%.1f/s", node["itemsPerSecond"]?.doubleValue ?? 0)]
        }
        if !nodes.isEmpty {
            lines += Output.render(header: ["NODE", "KIND", "READ", "WRITTEN", "FAILED", "RATE"], rows: nodes)
                .split(separator: "\n").map { "  " + $0 }
        }
        var text = drawnLines > 0 ? "\u{1B}[\(drawnLines)A\u{1B}[J" : ""
        text += lines.joined(separator: "\n") + "\n"
        print(text, terminator: "")
        fflush(nil)
        drawnLines = lines.count
    }

    /// `[  3.2s] running  read 120  written 100  failed 0  45.0 items/s`
    static func line(_ run: JSONValue, elapsed: Double) -> String {
        let status = run["status"]?.stringValue ?? "?"
        var line = String(format: "[%6.1fs] ", elapsed) + status.padding(toLength: 9, withPad: " ", startingAt: 0)
        line += " read \(Output.text(run, "read"))  written \(Output.text(run, "written"))  failed \(Output.text(run, "failed"))"
        line += String(format: "  %.1f items/s", run["itemsPerSecond"]?.doubleValue ?? 0)
        if let eta = run["etaSeconds"]?.doubleValue, status == "running" { line += "  ETA \(Self.duration(eta))" }
        if run["cancelRequested"]?.boolValue == true, status == "running" { line += "  (cancelling)" }
        return line
    }

    /// `42s`, `3m05s`, `2h10m`: short enough for a progress line.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }

    /// `run 0193… completed in 4.1s: 1000 read, 1000 written, 0 failed`
    static func summary(_ run: JSONValue) -> String {
        let elapsed = elapsed(run).map { String(format: " in %.1fs", $0) } ?? ""
        return "run \(Output.text(run, "id")) \(Output.text(run, "status"))\(elapsed): \(Output.text(run, "read")) read, "
            + "\(Output.text(run, "written")) written, \(Output.text(run, "failed")) failed"
    }

    /// Seconds since the run started (the server's own count, so it is right when following late).
    static func elapsed(_ run: JSONValue) -> Double? {
        if let seconds = run["elapsedSeconds"]?.doubleValue { return seconds }
        guard let text = run["startedAt"]?.stringValue else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text)
        return date.map { max(0, Date().timeIntervalSince($0)) }
    }

    func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
