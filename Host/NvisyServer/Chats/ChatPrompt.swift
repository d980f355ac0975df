import Foundation
import NvisyCore
import NvisyPostgres

/// Builds the messages a completion model is sent for one answer: the instructions (the chat's
/// system prompt + how to cite), as much recent history and as many retrieved chunks as fit the
/// model's context budget, and the new question with its numbered sources.
///
/// Tokens are estimated (≈ 4 characters per token, rounded up, plus a few per message for the
/// chat template), which over-counts English text a little: better to leave room than to
/// overflow a small model's window.
public struct ChatPrompt: Sendable {
    /// The chat messages for the provider (`[{"role","content"}]`).
    public var messages: [JSONValue]
    /// The sources in the order they are numbered ([1] is `sources[0]`).
    public var sources: [ChatSource]
    /// How many history messages made it in.
    public var historyUsed: Int
    /// The estimated prompt size.
    public var estimatedTokens: Int

    /// Tokens reserved per message for the chat template's role markers.
    static let perMessage = 4

    /// A conservative token estimate of `text`.
    public static func estimate(_ text: String) -> Int { (text.utf8.count + 3) / 4 }

    public static let citeInstruction = """
        Answer the question using the numbered sources given with it. After each sentence that uses a source, cite it \
        by its number in square brackets, like [1] or [2]. If the sources do not contain the answer, say that you do not know.
        """

    /// - Parameters:
    ///   - budget: tokens the prompt may take (the model's window minus room for the answer).
    ///   - history: earlier messages, oldest first; the newest are kept first.
    ///   - sources: retrieved chunks, best first; the best are kept first.
    /// - Throws: invalid input (pointer `/content`) when the instructions and the question alone do not fit.
    public static func build(systemPrompt: String?, history: [ChatMessageRecord], sources: [ChatSource], question: String,
                             budget: Int) throws(NvisyError) -> ChatPrompt {
        var system = citeInstruction
        if let systemPrompt, !systemPrompt.isEmpty { system = systemPrompt + "\n\n" + system }
        let fixed = estimate(system) + estimate(question) + 2 * perMessage + estimate("Sources:\n\nQuestion: ")
        guard fixed <= budget else {
            throw NvisyError.invalidInput("the message is too long for the chat model's context (about \(fixed) tokens, budget \(budget))",
                                          pointer: "/content")
        }
        var left = budget - fixed
        // Sources first, up to 60 % of what is left, best first; then history newest first;
        // then more sources if history left room.
        var kept: [ChatSource] = []
        var sourceCost: [Int] = sources.map { estimate(sourceText($0, number: 1)) + 1 }
        let sourceShare = left * 6 / 10
        var spent = 0
        var next = 0
        while next < sources.count, spent + sourceCost[next] <= sourceShare {
            spent += sourceCost[next]
            kept.append(sources[next])
            next += 1
        }
        left -= spent
        var historyKept: [ChatMessageRecord] = []
        for message in history.reversed() {
            let cost = estimate(message.content) + perMessage
            if cost > left { break }
            left -= cost
            historyKept.insert(message, at: 0)
        }
        while next < sources.count, sourceCost[next] <= left {
            left -= sourceCost[next]
            kept.append(sources[next])
            next += 1
        }
        sourceCost.removeAll()
        var messages: [JSONValue] = [["role": "system", "content": .string(system)]]
        for m in historyKept { messages.append(["role": .string(m.role), "content": .string(m.content)]) }
        var last = ""
        if !kept.isEmpty {
            last = "Sources:\n" + kept.enumerated().map { sourceText($1, number: $0 + 1) }.joined(separator: "\n") + "\n\nQuestion: "
        }
        last += question
        messages.append(["role": "user", "content": .string(last)])
        return ChatPrompt(messages: messages, sources: kept, historyUsed: historyKept.count, estimatedTokens: budget - left)
    }

    /// `[n] (file, page p, section) text` on one source line.
    static func sourceText(_ s: ChatSource, number: Int) -> String {
        var label = s.fileName
        if let page = s.page { label += ", page \(page)" }
        if let section = s.section, !section.isEmpty { label += ", \(section)" }
        return "[\(number)] (\(label)) \(s.text.replacingOccurrences(of: "\n", with: " "))"
    }

    /// The retrieval query: the new question after the last few user turns, so a follow-up
    /// ("and what about its price?") still finds what the conversation is about.
    public static func retrievalQuery(question: String, history: [ChatMessageRecord], turns: Int = 2) -> String {
        let earlier = history.filter { $0.role == "user" }.suffix(turns).map(\.content)
        return (earlier + [question]).joined(separator: "\n")
    }

    /// The numbers `[n]` the answer cites (1-based, each once, in order of first use).
    public static func citedNumbers(in answer: String) -> [Int] {
        var out: [Int] = []
        var rest = Substring(answer)
        while let open = rest.firstIndex(of: "[") {
            rest = rest[rest.index(after: open)...]
            guard let close = rest.firstIndex(of: "]") else { break }
            for part in rest[..<close].split(separator: ",") {
                if let n = Int(part.trimmingCharacters(in: .whitespaces)), n > 0, !out.contains(n) { out.append(n) }
            }
        }
        return out
    }
}
