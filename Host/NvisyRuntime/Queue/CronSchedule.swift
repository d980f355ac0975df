import Foundation
import NvisyCore

/// A cron-like schedule: five fields `minute hour day-of-month month day-of-week` (UTC), each
/// `*`, a number, a range `a-b`, a list `a,b,c`, or a step `*/n` / `a-b/n`. Day-of-week 0 and 7
/// are Sunday. As in cron, when both day fields are restricted a day matching either fires.
/// Also `@hourly`, `@daily`, `@weekly`, `@monthly`.
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible {
    let minutes: Set<Int>
    let hours: Set<Int>
    let days: Set<Int>
    let months: Set<Int>
    let weekdays: Set<Int>
    let daysRestricted: Bool
    let weekdaysRestricted: Bool
    public let description: String

    /// Parses `text`; a bad schedule is an `invalidInput` error naming the field.
    public init(_ text: String) throws(NvisyError) {
        let aliases = ["@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                       "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *"]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let expanded = aliases[trimmed] ?? trimmed
        let fields = expanded.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 5 else {
            throw NvisyError.invalidInput("a schedule has five fields (minute hour day month weekday), e.g. \"*/15 * * * *\"; got \"\(text)\"")
        }
        minutes = try Self.field(fields[0], "minute", 0...59)
        hours = try Self.field(fields[1], "hour", 0...23)
        days = try Self.field(fields[2], "day of month", 1...31)
        months = try Self.field(fields[3], "month", 1...12)
        weekdays = Set(try Self.field(fields[4], "day of week", 0...7).map { $0 == 7 ? 0 : $0 })
        daysRestricted = fields[2] != "*"
        weekdaysRestricted = fields[4] != "*"
        description = trimmed
    }

    /// The first minute strictly after `date` that the schedule fires (UTC), within five years.
    public func next(after date: Date) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let start = calendar.dateInterval(of: .minute, for: date)!.start.addingTimeInterval(60)
        var c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: start)
        let limit = (c.year ?? 2000) + 5
        while (c.year ?? 0) <= limit {
            guard let day = calendar.date(from: DateComponents(year: c.year, month: c.month, day: c.day)) else { return nil }
            let valid = calendar.component(.month, from: day) == c.month
            if !valid || !months.contains(c.month!) || !dayMatches(day, calendar) {
                // Next day at 00:00.
                let tomorrow = calendar.date(byAdding: .day, value: 1, to: day)!
                c = calendar.dateComponents([.year, .month, .day], from: tomorrow)
                c.hour = 0
                c.minute = 0
                continue
            }
            if let h = hours.filter({ $0 >= c.hour! }).min() {
                let m = h == c.hour! ? minutes.filter { $0 >= c.minute! }.min() : minutes.min()
                if let m { return calendar.date(from: DateComponents(year: c.year, month: c.month, day: c.day, hour: h, minute: m)) }
                if let h2 = hours.filter({ $0 > c.hour! }).min(), let m2 = minutes.min() {
                    return calendar.date(from: DateComponents(year: c.year, month: c.month, day: c.day, hour: h2, minute: m2))
                }
            }
            let tomorrow = calendar.date(byAdding: .day, value: 1, to: day)!
            c = calendar.dateComponents([.year, .month, .day], from: tomorrow)
            c.hour = 0
            c.minute = 0
        }
        return nil
    }

    func dayMatches(_ day: Date, _ calendar: Calendar) -> Bool {
        let dom = days.contains(calendar.component(.day, from: day))
        let dow = weekdays.contains(calendar.component(.weekday, from: day) - 1)
        switch (daysRestricted, weekdaysRestricted) {
        case (true, true): return dom || dow
        case (true, false): return dom
        case (false, true): return dow
        case (false, false): return true
        }
    }

    static func field(_ text: String, _ name: String, _ range: ClosedRange<Int>) throws(NvisyError) -> Set<Int> {
        var out = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2, let base = pieces.first else { throw bad(text, name, range) }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s > 0 else { throw bad(text, name, range) }
                step = s
            }
            var low = range.lowerBound, high = range.upperBound
            if base != "*" {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2, let a = Int(bounds[0]) else { throw bad(text, name, range) }
                low = a
                high = bounds.count == 2 ? (Int(bounds[1]) ?? -1) : (pieces.count == 2 ? range.upperBound : a)
            }
            guard range.contains(low), range.contains(high), low <= high else { throw bad(text, name, range) }
            out.formUnion(stride(from: low, through: high, by: step))
        }
        return out
    }

    static func bad(_ text: String, _ name: String, _ range: ClosedRange<Int>) -> NvisyError {
        NvisyError.invalidInput("the \(name) field \"\(text)\" is not valid: use *, a number \(range.lowerBound)-\(range.upperBound), a range a-b, a list a,b or a step */n")
    }
}
