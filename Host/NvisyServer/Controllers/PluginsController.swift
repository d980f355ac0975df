import Foundation
import Hummingbird
import NvisyCore
import NvisyPlugins

/// `GET /api/v1/plugins` (every plugin with its status and providers) and
/// `POST /api/v1/plugins/reload` (rescan plugins.d without a restart).
public struct PluginsController: Sendable {
    let host: PluginHost

    public init(host: PluginHost) {
        self.host = host
    }

    /// The list answer: `{items, nextCursor}` like every list, unpaginated (plugins are few).
    struct PluginList: ResponseEncodable {
        var items: [PluginSummary]
        var nextCursor: String?
    }

    public func addRoutes(to router: Router<NvisyRequestContext>) {
        let group = router.group("/api/v1/plugins")
        group.get { _, _ in PluginList(items: await host.plugins(), nextCursor: nil) }
        group.post("/reload") { _, _ in await host.reload() }
    }
}

extension PluginReloadReport: ResponseEncodable {}
