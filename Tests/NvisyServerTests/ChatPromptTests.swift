import Foundation
import NvisyCore
import NvisyPostgres
import Testing

@testable import NvisyServer

/// Context assembly: what fits the model's budget, in what order, and how sources are numbered.
@Suite("chats: prompt assembly")
struct ChatPromptTests {
    static func source(_ n: Int, words: Int = 40) -> ChatSource {
        ChatSource(chunkID: UUID(), fileID: UUID(), fileName: "f\(n).md", page: n, section: nil,
                   text: Array(repeating: "word\(n)", count: words).joined(separator: " "), score: 1 / Double(n))
    }

    static func history(_ count: Int) -> [ChatMessageRecord] {
        (0..<count).map { i in
            ChatMessageRecord(chatID: UUID(), role: i % 2 == 0 ? "user" : "assistant",
                              content: "turn \(i) " + String(repeating: "x", count: 200))
        }
    }

    @Test("everything fits a large budget: system, history in order, then sources numbered [1]… with the question")
    func fitsAll() throws {
        let p = try ChatPrompt.build(systemPrompt: "Be brief.", history: Self.history(4), sources: [Self.source(1), Self.source(2)],
                                     question: "What is word1?", budget: 4000)
        #expect(p.messages.count == 6)
        #expect(p.messages[0]["role"]?.stringValue == "system")
        #expect(p.messages[0]["content"]?.stringValue?.hasPrefix("Be brief.") == true)
        #expect(p.messages[0]["content"]?.stringValue?.contains("[1]") == true)
        #expect(p.messages[1]["content"]?.stringValue?.hasPrefix("turn 0") == true)
        let last = try #require(p.messages.last?["content"]?.stringValue)
        #expect(last.contains("[1] (f1.md, page 1) word1") && last.contains("[2] (f2.md, page 2) word2"))
        #expect(last.hasSuffix("Question: What is word1?"))
        #expect(p.sources.map(\.fileName) == ["f1.md", "f2.md"] && p.historyUsed == 4)
        #expect(p.estimatedTokens <= 4000)
    }

    @Test("a small budget keeps the best sources and the newest history, and stays within the budget")
    func trims() throws {
        let sources = (1...10).map { Self.source($0) }
        let p = try ChatPrompt.build(systemPrompt: nil, history: Self.history(10), sources: sources, question: "q?", budget: 400)
        #expect(p.estimatedTokens <= 400)
        #expect(!p.sources.isEmpty && p.sources.count < 10)
        #expect(p.sources.map(\.fileName) == sources.prefix(p.sources.count).map(\.fileName), "the best sources first")
        #expect(p.historyUsed < 10)
        if p.historyUsed > 0 {
            #expect(p.messages[1]["content"]?.stringValue?.hasPrefix("turn \(10 - p.historyUsed)") == true, "the newest history kept")
        }
        var total = 0
        for m in p.messages { total += ChatPrompt.estimate(m["content"]?.stringValue ?? "") + ChatPrompt.perMessage }
        #expect(total <= 400 + 16, "estimated \(total)")
    }

    @Test("a question that cannot fit is a 400 naming /content; cited numbers are read from the answer")
    func tooLongAndCitations() {
        #expect(throws: NvisyError.self) {
            _ = try ChatPrompt.build(systemPrompt: nil, history: [], sources: [], question: String(repeating: "a", count: 5000), budget: 200)
        }
        do {
            _ = try ChatPrompt.build(systemPrompt: nil, history: [], sources: [], question: String(repeating: "a", count: 5000), budget: 200)
        } catch {
            #expect(error.kind == .invalidInput && error.fieldErrors.first?.pointer == "/content")
        }
        #expect(ChatPrompt.citedNumbers(in: "It was lit in 1811 [2]. Built by Stevenson [1, 2][3]. [x] [") == [2, 1, 3])
        let q = ChatPrompt.retrievalQuery(question: "and its price?", history: Self.history(5))
        #expect(q.hasPrefix("turn 2") && q.hasSuffix("and its price?"))
    }
}
