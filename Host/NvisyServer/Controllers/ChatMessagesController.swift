import Foundation
import HTTPTypes
import Logging
import Hummingbird
import NIOCore
import NvisyCore
import NvisyPostgres

/// `POST /api/v1/chats/{chatId}/messages`, written by hand because the answer may be a stream.
///
/// Everything that can fail cleanly (the body, the chat's connections, retrieval, the context
/// budget) is checked before the answer starts, so those failures are ordinary problem answers.
/// Then:
///
/// - `Accept: text/event-stream`: `token` events (`{"text"}`) as the model produces them, then
///   one `done` event (the stored question and answer, with citations and usage), or an `error`
///   event (a problem) if the model fails mid-way. The model runs in a task of its own; when the
///   client goes away (a write fails, or the response task is cancelled) that task is cancelled,
///   which cancels the provider call, and the partial answer is stored as `cancelled`.
/// - otherwise: the stored question and answer as JSON, once the model has finished.
///
/// Neither mode is bounded by the request timeout (the provider call has its own timeout); if
/// the client goes away before a JSON answer, the handler is cancelled like the stream's task.
struct ChatMessagesController {
    let api: APIDependencies

    static let operations: Set<String> = ["POST /api/v1/chats/{chatId}/messages"]

    /// Whether `request` asks a chat: the request timeout does not apply (a model answer takes as
    /// long as the model does; the provider call has its own timeout), and the body limit is
    /// applied here (``maxBodyBytes``).
    static func isAnswer(_ request: Request) -> Bool {
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
        return request.method == .post && parts.count == 5 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "chats" && parts[4] == "messages"
    }

    /// The largest body accepted (a question is at most 8000 characters).
    static let maxBodyBytes = 64 * 1024

    func addRoutes(to router: Router<NvisyRequestContext>) {
        router.post("/api/v1/chats/:chatId/messages") { request, context in try await post(request, context) }
    }

    func post(_ request: Request, _ context: NvisyRequestContext) async throws -> Response {
        let id = try pathID(context.parameters.get("chatId") ?? "", "chatId")
        let me = try context.requireSignedIn()
        guard let chat = try await api.chats.find(id: id) else { throw NvisyError.notFound("no chat \(id.text)") }
        try await context.require(.view, in: chat.workspaceID)
        let question = try await Self.question(request)
        guard let service = api.chatService else { throw NvisyError.unavailable("chats need providers, and this host has no plugins loaded") }
        let prepared = try await service.prepare(chat, question: question)
        let accept = request.headers[.accept] ?? ""
        guard accept.contains("text/event-stream") else {
            let answer = try await service.answer(prepared, by: me.accountID) { _ in }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try Self.reply(answer))))
        }
        return stream(prepared, service: service, accountID: me.accountID, logger: context.logger)
    }

    func stream(_ prepared: PreparedAnswer, service: ChatService, accountID: UUID, logger: Logger) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        let body = ResponseBody { writer in
            let (tokens, sink) = AsyncStream<String>.makeStream()
            let model = Task {
                defer { sink.finish() }
                return try await service.answer(prepared, by: accountID) { sink.yield($0) }
            }
            var sequence = 0
            func event(_ name: String, _ data: Data) async throws {
                sequence += 1
                var text = "id: \(sequence)\nevent: \(name)\ndata: "
                text += String(decoding: data, as: UTF8.self)
                text += "\n\n"
                try await writer.write(ByteBuffer(string: text))
            }
            try await withTaskCancellationHandler {
                do {
                    for await token in tokens {
                        try await event("token", try JSONEncoder.api.encode(["text": token]))
                    }
                    let answer: ChatAnswer
                    do { answer = try await model.value } catch is CancellationError {
                        throw CancellationError()
                    } catch {
                        let problem = ProblemDetails((error as? NvisyError) ?? NvisyError.unavailable("the model failed: \(error)"))
                        try await event("error", try JSONEncoder.api.encode(problem))
                        try await writer.finish(nil)
                        return
                    }
                    try await event("done", try Self.reply(answer))
                    try await writer.finish(nil)
                } catch {
                    // The client is gone (or the stream failed): stop the model.
                    model.cancel()
                    logger.debug("chat stream ended early", metadata: ["error": "\(error)"])
                    throw error
                }
            } onCancel: {
                model.cancel()
            }
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// The question from `{"content": "..."}`: 1–8000 characters, no NUL.
    static func question(_ request: Request) async throws -> String {
        var request = request
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw HTTPError(.contentTooLarge, message: "the request body is larger than \(maxBodyBytes) bytes")
        }
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: maxBodyBytes) } catch let error as HTTPError where error.status == .contentTooLarge {
            throw HTTPError(.contentTooLarge, message: "the request body is larger than \(maxBodyBytes) bytes")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(buffer: buffer)) } catch {
            throw NvisyError.invalidInput("the body must be JSON like {\"content\": \"your question\"}")
        }
        var check = Validation()
        guard let body = object as? [String: Any] else { throw NvisyError.invalidInput("the body must be a JSON object") }
        guard let raw = body["content"] else {
            check.fail("/content", "is required")
            try check.check()
            return ""
        }
        guard let text = raw as? String else {
            check.fail("/content", "must be a string")
            try check.check()
            return ""
        }
        let content = check.text(text, at: "/content", max: 8000) ?? ""
        try check.check()
        return content
    }

    static func reply(_ answer: ChatAnswer) throws -> Data {
        try JSONEncoder.api.encode(Components.Schemas.ChatReply(
            question: .init(answer.question), answer: .init(answer.answer, usageEstimated: answer.usageEstimated)))
    }
}
