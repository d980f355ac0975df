import Foundation
import Logging
import ServiceLifecycle

/// Removes the bytes of deleted files once no run of their workspace can read them any more
/// (a file deleted while a run is queued or running keeps its object until then).
public struct FileReaper: Service {
    let store: FileStore
    let interval: Duration

    public init(store: FileStore, interval: Duration = .seconds(15)) {
        self.store = store
        self.interval = interval
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { return }
                await store.reapDeleted()
            }
        }
    }
}
