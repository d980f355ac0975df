import Foundation
import Hummingbird
import Logging
import NvisyCore
import NvisyPlugins
import ServiceLifecycle

/// What the HTTP application is built from; the `nvisy serve` command assembles it.
public struct ApplicationDependencies: Sendable {
    /// Dependencies reported by `GET /health`.
    public var healthChecks: [HealthCheck]
    /// Background services that run beside the HTTP server (the database pool, ...).
    public var services: [any Service]
    /// Work done after the services start and before the server accepts requests (migrations).
    public var beforeServerStarts: [@Sendable () async throws -> Void]
    /// The provider registry, when plugins are loaded.
    public var plugins: PluginHost?
    /// The REST API under /api/v1 (accounts, workspaces, ...), when a database is configured.
    public var api: APIDependencies?

    public init(healthChecks: [HealthCheck] = [], services: [any Service] = [],
                beforeServerStarts: [@Sendable () async throws -> Void] = [], plugins: PluginHost? = nil) {
        self.healthChecks = healthChecks
        self.services = services
        self.beforeServerStarts = beforeServerStarts
        self.plugins = plugins
    }
}

/// Builds the router: middleware in order (request id, metrics, logging, problems), then routes.
public func buildRouter(dependencies: ApplicationDependencies) -> Router<NvisyRequestContext> {
    ServerMetrics.bootstrap()
    let router = Router(context: NvisyRequestContext.self)
    router.middlewares.add(RequestIDMiddleware())
    APIRoutes.addOuterMiddlewares(to: router, settings: dependencies.api?.settings ?? APISettings())
    router.middlewares.add(MetricsMiddleware())
    router.middlewares.add(RequestLogMiddleware())
    router.middlewares.add(ProblemMiddleware())
    if let api = dependencies.api { APIRoutes.add(to: router, dependencies: api) }
    HealthController(checks: dependencies.healthChecks).addRoutes(to: router)
    MetricsController().addRoutes(to: router)
    ConsoleController().addRoutes(to: router)
    if let plugins = dependencies.plugins {
        PluginsController(host: plugins).addRoutes(to: router)
    }
    // The benchmark's baseline (scripts/bench-http.sh): the cheapest route through the same
    // middleware. Off unless NVISY_BENCH_HELLO=1.
    if ProcessInfo.processInfo.environment["NVISY_BENCH_HELLO"] == "1" {
        router.get("/bench/hello") { _, _ in "hello" }
    }
    return router
}

/// Builds the whole application: the router, the listener, and the services around it.
public func buildApplication(
    configuration: ServerConfiguration, dependencies: ApplicationDependencies, logger: Logger
) -> some ApplicationProtocol {
    var app = Application(
        router: buildRouter(dependencies: dependencies),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "nvisy"),
        services: dependencies.services,
        logger: logger
    )
    for step in dependencies.beforeServerStarts {
        app.beforeServerStarts(perform: step)
    }
    return app
}
