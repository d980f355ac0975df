import ServiceLifecycle

/// Runs a service once ``MigrationGate`` opens; a shutdown before that ends it without starting it.
struct AfterMigrations: Service {
    let service: any Service
    let gate: MigrationGate

    init(_ service: any Service, gate: MigrationGate) {
        self.service = service
        self.gate = gate
    }

    func run() async throws {
        await cancelWhenGracefulShutdown { await gate.wait() }
        guard !Task.isCancelled, !Task.isShuttingDownGracefully else { return }
        try await service.run()
    }
}
