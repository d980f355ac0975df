import NvisyCore

/// The strength check for new passwords: long enough, varied enough, not a well-known one and
/// not the account's own email or name. Each failure names `/password`.
public enum PasswordPolicy {
    public static let minimumLength = 10
    public static let maximumLength = 256

    /// A few of the most common passwords of at least ten characters (lower-cased).
    static let common: Set<String> = [
        "1234567890", "12345678910", "0123456789", "1q2w3e4r5t", "1qaz2wsx3edc", "qwertyuiop", "password12",
        "password123", "password1234", "passw0rd123", "iloveyou12", "qwerty1234", "qwerty12345", "abcdefghij",
        "abc1234567", "letmein123", "welcome123", "administrator", "changeme123", "football123", "baseball123",
        "monkey1234", "dragon1234", "princess12", "sunshine12", "trustno1234", "0987654321", "9876543210",
        "aaaaaaaaaa", "asdfghjkl1", "zxcvbnm123", "superman123", "starwars12", "whatever12", "michael123",
    ]

    /// Problems with `password`, as field errors (empty when it is acceptable).
    public static func problems(_ password: String, email: String, displayName: String, pointer: String = "/password") -> [NvisyError.FieldError] {
        let count = password.count
        if count < minimumLength {
            return [.init(pointer: pointer, message: "must be at least \(minimumLength) characters (got \(count))")]
        }
        if count > maximumLength {
            return [.init(pointer: pointer, message: "must be at most \(maximumLength) characters")]
        }
        let lower = password.lowercased()
        if common.contains(lower) {
            return [.init(pointer: pointer, message: "is one of the most common passwords; choose another")]
        }
        if Set(password).count < 5 {
            return [.init(pointer: pointer, message: "needs at least 5 different characters")]
        }
        let local = email.split(separator: "@").first.map { String($0).lowercased() } ?? ""
        if (local.count >= 4 && lower.contains(local)) || lower == displayName.lowercased() || lower == email.lowercased() {
            return [.init(pointer: pointer, message: "must not contain your email or name")]
        }
        return []
    }
}
