import Foundation
import Logging
import NvisyCore
import NvisyPlugins
import NvisyPostgres
import NvisyWebhook
import PostgresNIO

/// What the REST API needs: its repositories, the session keys, the password hasher and its settings.
public struct APIDependencies: Sendable {
    public var accounts: AccountRepository
    public var sessions: SessionRepository
    public var apiTokens: APITokenRepository
    public var workspaces: WorkspaceRepository
    public var invites: InviteRepository
    public var activities: ActivityRepository
    public var connections: ConnectionRepository
    public var files: FileRepository
    public var pipelines: PipelineRepository
    public var runs: RunRepository
    /// Login and signup attempt counters, shared by every host.
    public var rateLimits: RateLimitRepository
    /// Chats and their messages.
    public var chats: ChatRepository
    /// The knowledge base: chunks, index settings and requests, retrieval.
    public var chunks: ChunkRepository
    public var index: IndexRepository
    public var chunkSearch: ChunkSearch
    /// Compiles pipelines and queues runs; the pipeline and run routes answer 503 without it.
    public var runService: RunService?

    /// Starts the runs of pipelines triggered by an upload (nil without a run service).
    public var fileUploadTrigger: FileUploadTrigger? {
        runService.map { FileUploadTrigger(pipelines: pipelines, runs: runs, service: $0) }
    }
    /// Indexing and search (nil without a run service).
    public var knowledgeBase: KnowledgeBase? {
        runService.map {
            KnowledgeBase(index: index, chunks: chunks, files: files, connections: connections, runs: runs, service: $0,
                          embedder: $0.queryEmbedder, search: chunkSearch)
        }
    }
    /// Seals and opens connection credentials; connections with credentials need it.
    public var keyring: CredentialKeyring?
    /// Validates connection configs and makes provider instances for `check`.
    public var plugins: PluginHost?
    /// The object store behind files; the file routes answer 503 without it.
    public var fileStore: FileStore?
    /// Webhook endpoints, secrets, test events and retries (the webhook routes answer 503 without
    /// it). The default stores secrets unsealed: `nvisy serve` replaces it with one that has the
    /// master key's `CredentialCipher`.
    public var webhooks: Webhooks?
    public var keys: SessionKeys
    public var hasher: PasswordHasher
    public var settings: APISettings
    /// Sessions and roles remembered in memory; it serves only while an ``AuthChangeListener``
    /// runs (`nvisy serve` starts one), so tests without one always read the database.
    public var authCache: AuthCache

    /// Everything over one database pool.
    public init(client: PostgresClient, keys: SessionKeys, hasher: PasswordHasher, settings: APISettings, logger: Logger) {
        accounts = AccountRepository(client: client, logger: logger)
        sessions = SessionRepository(client: client, logger: logger)
        apiTokens = APITokenRepository(client: client, logger: logger)
        workspaces = WorkspaceRepository(client: client, logger: logger)
        invites = InviteRepository(client: client, logger: logger)
        activities = ActivityRepository(client: client, logger: logger)
        connections = ConnectionRepository(client: client, logger: logger)
        files = FileRepository(client: client, logger: logger)
        pipelines = PipelineRepository(client: client, logger: logger)
        runs = RunRepository(client: client, logger: logger)
        rateLimits = RateLimitRepository(client: client, logger: logger)
        chats = ChatRepository(client: client, logger: logger)
        chunks = ChunkRepository(client: client, logger: logger)
        index = IndexRepository(client: client, logger: logger)
        chunkSearch = ChunkSearch(client: client, logger: logger, efSearch: settings.hnswEfSearch)
        webhooks = Webhooks(client: client, keyring: nil, logger: logger)
        self.keys = keys
        self.hasher = hasher
        self.settings = settings
        authCache = AuthCache(ttl: settings.authCacheTTL)
    }

    /// Answers chat messages (nil without plugins: the chat routes that need a model answer 503).
    public var chatService: ChatService? {
        plugins.map { ChatService(chats: chats, connections: connections, keyring: keyring, plugins: $0, retriever: chatRetriever,
                                  logger: Logger(label: "nvisy.chat")) }
    }

    /// Finds the chunks a chat answer is given: the knowledge base's hybrid search, so a chat
    /// and `POST /workspaces/{id}/search` see the same chunks.
    public var chatRetriever: any ChatContextRetriever {
        ChunkSearchRetriever(search: chunkSearch)
    }

    public var authenticator: Authenticator {
        Authenticator(keys: keys, accounts: accounts, sessions: sessions, apiTokens: apiTokens, cache: authCache)
    }

    /// A workspace row through ``authCache`` (read requests for a workspace are the hottest path).
    public func workspace(id: UUID) async throws(NvisyError) -> WorkspaceRecord? {
        if let cached = authCache.workspace(id) { return cached }
        let ticket = authCache.ticket()
        let record = try await workspaces.find(id: id)
        authCache.store(workspace: record, id: id, ticket: ticket)
        return record
    }

    /// Workspace roles through ``authCache``.
    public var workspaceRoles: any WorkspaceRoleLookup {
        CachedWorkspaceRoles(workspaces, cache: authCache)
    }
}
