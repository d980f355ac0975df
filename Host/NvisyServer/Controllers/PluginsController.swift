import Foundation
import Hummingbird
import NvisyCore
import NvisyPlugins

/// `GET /api/v1/plugins` (every plugin with its status and providers; any signed-in user) and
/// `POST /api/v1/plugins/reload` (rescan plugins.d without a restart; instance admin only).
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
        group.get { _, context in
            _ = try context.requireSignedIn()
            return PluginList(items: await host.plugins(), nextCursor: nil)
        }
        group.post("/reload") { _, context in
            _ = try context.requireInstanceAdmin()
            return await host.reload()
        }
    }
}

extension PluginReloadReport: ResponseEncodable {}
