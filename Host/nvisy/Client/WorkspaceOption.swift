import ArgumentParser
import Foundation
import NvisyCore

/// `--workspace NAME|ID` (or `NVISY_WORKSPACE`) for the commands that work inside one; when
/// neither is given and the account is in exactly one workspace, that one.
struct WorkspaceOption: ParsableArguments {
    @Option(name: [.short, .long], help: "The workspace's name or id (default: NVISY_WORKSPACE, or your only workspace)")
    var workspace: String?

    /// An option already set (a name or id the command got another way).
    static func named(_ nameOrID: String) -> WorkspaceOption {
        var option = WorkspaceOption()
        option.workspace = nameOrID
        return option
    }

    /// The workspace's id.
    func resolve(_ client: APIClient) async throws -> String {
        let wanted = workspace ?? ProcessInfo.processInfo.environment["NVISY_WORKSPACE"].flatMap { $0.isEmpty ? nil : $0 }
        if let wanted, UUID(uuidString: wanted) != nil { return wanted.lowercased() }
        let all = try await Paging.all(client, "/api/v1/workspaces")
        if let wanted {
            let matches = all.filter { $0["name"]?.stringValue == wanted }
            guard let id = matches.first?["id"]?.stringValue else {
                throw NvisyError.notFound("no workspace named \"\(wanted)\"; `nvisy workspaces list` shows yours")
            }
            guard matches.count == 1 else { throw NvisyError.conflict("several workspaces are named \"\(wanted)\"; give its id") }
            return id
        }
        guard all.count == 1, let id = all[0]["id"]?.stringValue else {
            throw NvisyError.invalidInput(all.isEmpty
                ? "you have no workspace yet: `nvisy workspaces create NAME`"
                : "you are in \(all.count) workspaces: choose one with --workspace NAME or NVISY_WORKSPACE")
        }
        return id
    }
}

/// Walking `{items, nextCursor}` pages.
enum Paging {
    /// Every item of a list (pages of 100), up to `max`.
    static func all(_ client: APIClient, _ path: String, max: Int = 10_000) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        var cursor: String?
        repeat {
            let separator = path.contains("?") ? "&" : "?"
            var url = path + separator + "limit=100"
            if let cursor { url += "&cursor=" + Output.query(cursor) }
            let page = try await client.get(url)
            items += Output.items(page)
            cursor = page["nextCursor"]?.stringValue
        } while cursor != nil && items.count < max
        return items
    }

    /// Finds an item of a workspace list by id or by name.
    static func find(_ client: APIClient, _ path: String, _ nameOrID: String, what: String) async throws -> JSONValue {
        let items = try await all(client, path)
        if let found = items.first(where: { $0["id"]?.stringValue == nameOrID.lowercased() }) { return found }
        let named = items.filter { $0["name"]?.stringValue == nameOrID }
        guard let first = named.first else { throw NvisyError.notFound("no \(what) named \"\(nameOrID)\" in this workspace") }
        guard named.count == 1 else { throw NvisyError.conflict("several \(what)s are named \"\(nameOrID)\"; give its id") }
        return first
    }
}
