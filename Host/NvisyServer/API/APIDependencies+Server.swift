import Foundation
import Logging
import NvisyCore
import NvisyWebhook
import PostgresNIO

extension ServerConfiguration {
    /// The API settings of this configuration.
    public var apiSettings: APISettings {
        var settings = APISettings()
        settings.sessionLifetime = .seconds(sessionHours * 3600)
        settings.corsOrigins = corsOrigins
        settings.maxBodyBytes = maxBodyBytes
        settings.requestTimeout = .seconds(requestTimeoutSeconds)
        settings.authAttemptsPerIP = authAttemptsPerIP
        settings.authAttemptsPerAccount = authAttemptsPerAccount
        settings.venvDirectory = venvDirectory
        settings.maxFileBytes = maxFileBytes
        settings.workspaceQuotaBytes = workspaceQuotaBytes
        settings.connectionCheckTimeout = .seconds(connectionCheckTimeoutSeconds)
        settings.authCacheTTL = .seconds(authCacheSeconds)
        settings.hnswEfSearch = hnswEfSearch
        return settings
    }

    /// Where the session signing key lives.
    public var sessionKeyPath: String {
        (jwtKeyFile ?? dataDirectory.appendingPathComponent("session-ed25519.key")).path
    }
}

extension ServerConfiguration {
    /// The webhook delivery settings of this configuration.
    public var webhookSettings: WebhookSettings {
        var settings = WebhookSettings()
        settings.allowPrivateAddresses = webhookAllowPrivate ?? (databaseURL == nil)
        settings.autoPauseAfter = .seconds(webhookAutoPauseHours * 3600)
        settings.retrySchedule = webhookRetrySchedule
        settings.timeout = .seconds(webhookTimeoutSeconds)
        settings.rotationGracePeriod = .seconds(webhookRotationGraceHours * 3600)
        return settings
    }
}

extension APIDependencies {
    /// The API of `nvisy serve`: the session key from `jwt_key_file` or `<data dir>` (generated on
    /// first start), Argon2id at libsodium's interactive cost, settings from the configuration.
    public static func forServer(_ config: ServerConfiguration, client: PostgresClient, logger: Logger) async throws(NvisyError) -> APIDependencies {
        if config.jwtKeyFile != nil, !FileManager.default.fileExists(atPath: config.sessionKeyPath) {
            throw NvisyError.invalidInput("jwt_key_file \(config.sessionKeyPath) does not exist", pointer: "/jwt_key_file")
        }
        let (keys, created) = try await SessionKeys.loadOrCreate(at: config.sessionKeyPath)
        if created { logger.notice("created the session signing key", metadata: ["path": .string(config.sessionKeyPath)]) }
        return APIDependencies(client: client, keys: keys, hasher: try PasswordHasher.interactive(), settings: config.apiSettings, logger: logger)
    }
}
