import Foundation
import NvisyCore
import TOMLKit

/// Resolves ``ServerConfiguration`` from four layers, highest first:
/// command-line flags > environment (`NVISY_*`) > config file (`--config`, else `./nvisy.toml`) > defaults.
///
/// Every value is checked against its key's type; an unknown key in the file or the
/// environment, or a value of the wrong type, is an error that names the key and its layer.
public struct ConfigurationLoader: Sendable {
    /// `NVISY_*` variables that are not settings but are read elsewhere.
    public static let otherEnvironmentNames: Set<String> = [
        "NVISY_CONFIG", "NVISY_MASTER_KEY", "NVISY_TOKEN", "NVISY_VENV", "NVISY_TEST_LOG", "NVISY_URL", "NVISY_BENCH_HELLO",
    ]

    public var flags: [String: String]
    public var environment: [String: String]
    /// The `--config` path; nil means `./nvisy.toml` if it exists.
    public var configFile: String?
    public var workingDirectory: URL

    public init(flags: [String: String], environment: [String: String] = ProcessInfo.processInfo.environment,
                configFile: String? = nil,
                workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) {
        self.flags = flags
        self.environment = environment
        self.configFile = configFile
        self.workingDirectory = workingDirectory
    }

    public func load() throws(NvisyError) -> ServerConfiguration {
        let keys = Dictionary(uniqueKeysWithValues: ServerConfiguration.keys.map { ($0.name, $0) })
        var values: [String: String] = [:]
        for key in ServerConfiguration.keys { values[key.name] = key.defaultValue }

        for (name, value) in try fileValues(keys: keys) { values[name] = value }

        for (variable, value) in environment where variable.hasPrefix("NVISY_") {
            if Self.otherEnvironmentNames.contains(variable) { continue }
            let name = String(variable.dropFirst("NVISY_".count)).lowercased()
            guard let key = keys[name] else {
                throw NvisyError.invalidInput("unknown environment variable \(variable); settings are \(keys.values.map(\.environmentName).sorted().joined(separator: ", "))", pointer: "/env/\(variable)")
            }
            values[name] = try Self.check(value, for: key, layer: "environment variable \(variable)")
        }

        for (name, value) in flags {
            guard let key = keys[name] else {
                throw NvisyError.invalidInput("unknown setting \(name)", pointer: "/flags/\(name)")
            }
            values[name] = try Self.check(value, for: key, layer: "flag \(key.flagName)")
        }
        return ServerConfiguration(values: values, relativeTo: workingDirectory)
    }

    private func fileValues(keys: [String: ConfigurationKey]) throws(NvisyError) -> [String: String] {
        let explicit = configFile ?? environment["NVISY_CONFIG"]
        let path = explicit ?? workingDirectory.appendingPathComponent("nvisy.toml").path
        guard FileManager.default.fileExists(atPath: path) else {
            if let explicit { throw NvisyError.invalidInput("config file \(explicit) does not exist", pointer: "/config") }
            return [:]
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw NvisyError.invalidInput("cannot read config file \(path): \(error.localizedDescription)", pointer: "/config")
        }
        if let problem = TOMLPrecheck.problem(in: text) {
            throw NvisyError.invalidInput("config file \(path) is not valid TOML: \(problem)", pointer: "/config")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw NvisyError.invalidInput("config file \(path) is not valid TOML: line \(error.source.begin.line): \(error.description)", pointer: "/config")
        } catch {
            throw NvisyError.invalidInput("config file \(path) is not valid TOML: \(error)", pointer: "/config")
        }
        var values: [String: String] = [:]
        for (name, value) in table {
            guard let key = keys[name] else {
                throw NvisyError.invalidInput("unknown key '\(name)' in \(path); known keys: \(keys.keys.sorted().joined(separator: ", "))", pointer: "/\(name)")
            }
            let layer = "key '\(name)' in \(path)"
            let text: String
            switch (key.type, value.type) {
            case (.integer, .int): text = String(value.int!)
            case (.boolean, .bool): text = String(value.bool!)
            case (.string, .string), (.oneOf, .string), (.durations, .string): text = value.string!
            default:
                throw NvisyError.invalidInput("\(layer) must be \(key.type.expectation)", pointer: "/\(name)")
            }
            values[name] = try Self.check(text, for: key, layer: layer)
        }
        return values
    }

    /// Checks a textual value against the key's type; the error never echoes a secret value.
    static func check(_ value: String, for key: ConfigurationKey, layer: String) throws(NvisyError) -> String {
        let shown = key.isSecret ? "" : " (got '\(value)')"
        let pointer = "/\(key.name)"
        switch key.type {
        case .string:
            guard !value.isEmpty else { throw NvisyError.invalidInput("\(layer) must not be empty", pointer: pointer) }
        case .integer(let range):
            guard let number = Int(value), range.contains(number) else {
                throw NvisyError.invalidInput("\(layer) must be \(key.type.expectation)\(shown)", pointer: pointer)
            }
        case .oneOf(let words):
            guard words.contains(value) else {
                throw NvisyError.invalidInput("\(layer) must be \(key.type.expectation)\(shown)", pointer: pointer)
            }
        case .boolean:
            guard value == "true" || value == "false" else {
                throw NvisyError.invalidInput("\(layer) must be \(key.type.expectation)\(shown)", pointer: pointer)
            }
        case .durations:
            guard parseDurationList(value) != nil else {
                throw NvisyError.invalidInput("\(layer) must be \(key.type.expectation)\(shown)", pointer: pointer)
            }
        }
        return value
    }
}
