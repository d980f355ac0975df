import CNats
import NvisyCore

/// Turns nats.c status codes into ``NvisyError``s with a sentence a person can act on.
enum NATSStatus {
    static func text(_ s: natsStatus) -> String {
        String(cString: natsStatus_GetText(s))
    }

    /// The last error text nats.c recorded on this thread, if it adds anything.
    static func lastErrorText() -> String? {
        var s = NATS_OK
        guard let p = nats_GetLastError(&s) else { return nil }
        let t = String(cString: p)
        return t.isEmpty ? nil : t
    }

    /// Throws when `s` is not `NATS_OK`. `what` says what was being done ("publish to ORDERS").
    static func check(_ s: natsStatus, _ what: @autoclosure () -> String, jsErr: jsErrCode = jsErrCode(rawValue: 0)) throws {
        guard s != NATS_OK else { return }
        throw error(s, what(), jsErr: jsErr)
    }

    static func error(_ s: natsStatus, _ what: String, jsErr: jsErrCode = jsErrCode(rawValue: 0)) -> NvisyError {
        var detail = text(s)
        if let last = lastErrorText(), !last.isEmpty, last != detail { detail = last }
        if jsErr.rawValue != 0 { detail += " (JetStream error \(jsErr.rawValue))" }
        let message = "\(what): \(detail)"
        switch s {
        case NATS_NOT_FOUND:
            return .notFound(message)
        case NATS_INVALID_ARG, NATS_INVALID_SUBJECT:
            return .invalidInput(message)
        case NATS_TIMEOUT, NATS_NO_SERVER, NATS_CONNECTION_CLOSED, NATS_CONNECTION_DISCONNECTED,
             NATS_STALE_CONNECTION, NATS_NO_RESPONDERS, NATS_IO_ERROR, NATS_SLOW_CONSUMER, NATS_DRAINING:
            return .unavailable(message)
        case NATS_ERR:
            // JetStream API errors carry their own code.
            switch jsErr.rawValue {
            case JSStreamNotFoundErr.rawValue, JSConsumerNotFoundErr.rawValue, JSNoMessageFoundErr.rawValue:
                return .notFound(message)
            case JSStreamNameExistErr.rawValue, JSStreamWrongLastSequenceErr.rawValue, JSStreamWrongLastMsgIDErr.rawValue:
                return .conflict(message)
            default:
                return .internal(message)
            }
        default:
            return .internal(message)
        }
    }
}
