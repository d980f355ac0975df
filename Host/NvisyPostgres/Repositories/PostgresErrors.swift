import NvisyCore
import PostgresNIO

/// Mapping of postgres-nio errors for repositories.
enum PostgresErrors {
    /// Whether `error` is a unique-constraint violation (SQLSTATE 23505), optionally of one constraint.
    static func isUniqueViolation(_ error: any Error, constraint: String? = nil) -> Bool {
        if let transaction = error as? PostgresTransactionError, let inner = transaction.closureError {
            return isUniqueViolation(inner, constraint: constraint)
        }
        guard let psql = error as? PSQLError, psql.serverInfo?[.sqlState] == "23505" else { return false }
        guard let constraint else { return true }
        return psql.serverInfo?[.constraintName] == constraint
    }

    /// An internal error naming the repository step; the SQL text never reaches the caller.
    static func wrap(_ error: any Error, _ what: String) -> NvisyError {
        if let nvisy = error as? NvisyError { return nvisy }
        if let transaction = error as? PostgresTransactionError, let inner = transaction.closureError { return wrap(inner, what) }
        if let psql = error as? PSQLError, psql.code == .connectionError || psql.code == .serverClosedConnection {
            return .unavailable("postgres: \(what): \(PostgresErrorText.describe(error))")
        }
        return .internal("postgres: \(what): \(PostgresErrorText.describe(error))")
    }
}
