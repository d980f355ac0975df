import Hummingbird
import NvisyCore
import OpenAPIHummingbird

/// Wires the REST API into the router: ``addOuterMiddlewares(to:settings:)`` right after the
/// request id (so headers reach error answers too), ``add(to:dependencies:)`` after the problem
/// middleware.
public enum APIRoutes {
    /// Security headers and CORS: they see every answer, problems included.
    public static func addOuterMiddlewares(to router: Router<NvisyRequestContext>, settings: APISettings) {
        router.middlewares.add(SecurityHeadersMiddleware(hsts: settings.hsts))
        router.middlewares.add(OriginPolicyMiddleware(origins: settings.corsOrigins))
    }

    /// Body and time limits, authentication (for every route, so hand-written controllers can
    /// call `context.requireSignedIn()` too), the spec's operations, and the spec and docs.
    public static func add(to router: Router<NvisyRequestContext>, dependencies api: APIDependencies) {
        router.middlewares.add(RequestLimitsMiddleware(maxBodyBytes: api.settings.maxBodyBytes, timeout: api.settings.requestTimeout,
                                                       isStreaming: { FilesController.isStreaming($0) || RunEventsController.isStreaming($0) || ChatMessagesController.isAnswer($0) }))
        router.middlewares.add(AuthenticationMiddleware(authenticator: api.authenticator, roles: api.workspaceRoles, cache: api.authCache))
        let operations = router.group().add(middleware: OpenAPIErrorMiddleware())
        do {
            try APIHandler(deps: api).registerHandlers(on: SkippingTransport(base: operations, skip: FilesController.operations.union(RunEventsController.operations).union(ChatMessagesController.operations)),
                                                     configuration: APIHandler.wireConfiguration)
        } catch {
            preconditionFailure("the generated OpenAPI routes cannot be registered: \(error)")
        }
        FilesController(api: api).addRoutes(to: router)
        RunEventsController(api: api).addRoutes(to: router)
        ChatMessagesController(api: api).addRoutes(to: router)
        OpenAPIDocsController(venv: api.settings.venvDirectory).addRoutes(to: router)
    }
}
