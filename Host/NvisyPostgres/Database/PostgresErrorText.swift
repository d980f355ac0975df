import PostgresNIO

/// Turns postgres-nio errors into one readable line (PSQLError hides the server's message
/// from its description on purpose, to keep queries out of logs).
public enum PostgresErrorText {
    public static func describe(_ error: any Error) -> String {
        if let psql = error as? PSQLError {
            if let info = psql.serverInfo, let message = info[.message] {
                let code = info[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return message + code
            }
            if let underlying = psql.underlying { return "\(psql.code): \(underlying)" }
            return "\(psql.code)"
        }
        return String(describing: error)
    }
}
