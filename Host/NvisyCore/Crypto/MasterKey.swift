import Foundation

/// The 32-byte root secret from which every workspace's credential key is derived.
///
/// It is kept in a key file (base64 on one line, mode 0600) or in the environment
/// (`NVISY_MASTER_KEY`, base64). Its bytes are never logged: ``description`` hides them.
public struct MasterKey: Sendable, CustomStringConvertible {
    /// Key length in bytes.
    public static let byteCount = 32

    /// The raw key bytes.
    public let bytes: [UInt8]

    /// A key from raw bytes; they must be exactly 32.
    public init(bytes: [UInt8]) throws(NvisyError) {
        guard bytes.count == Self.byteCount else {
            throw NvisyError.invalidInput("a master key must be \(Self.byteCount) bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// A key from its base64 text (surrounding white space is ignored).
    public init(base64 text: String) throws(NvisyError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let data = Data(base64Encoded: trimmed) else {
            throw NvisyError.invalidInput("the master key is not valid base64 (expected 32 random bytes, base64-encoded)")
        }
        try self.init(bytes: [UInt8](data))
    }

    /// A new random key.
    public static func generate() throws(NvisyError) -> MasterKey {
        try MasterKey(bytes: Sodium.randomBytes(byteCount))
    }

    /// The key's base64 text, as written to a key file.
    public var base64: String { Data(bytes).base64EncodedString() }

    public var description: String { "MasterKey(<redacted>)" }

    /// Reads a key file; the error names the path and what is wrong with it.
    public static func load(from path: String) throws(NvisyError) -> MasterKey {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw NvisyError.invalidInput("cannot read master key file \(path): \(Self.reason(error)); create one with `nvisy keys generate --output \(path)`")
        }
        do {
            return try MasterKey(base64: text)
        } catch {
            throw NvisyError.invalidInput("malformed master key file \(path): \(error.message)")
        }
    }

    /// Writes the key to `path` with mode 0600, refusing to replace an existing file.
    public func write(to path: String) throws(NvisyError) {
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw NvisyError.conflict("cannot create key file \(path): \(reason)")
        }
        defer { close(fd) }
        let line = Array((base64 + "\n").utf8)
        let written = line.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else {
            throw NvisyError.internal("cannot write key file \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Loads the key at `path`, creating it first if it does not exist (the embedded default).
    public static func loadOrCreate(at path: String) throws(NvisyError) -> (key: MasterKey, created: Bool) {
        if FileManager.default.fileExists(atPath: path) {
            return (try load(from: path), false)
        }
        let key = try generate()
        try key.write(to: path)
        return (key, true)
    }

    private static func reason(_ error: any Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.code == NSFileReadNoSuchFileError ? "no such file" : ns.localizedDescription
    }
}
