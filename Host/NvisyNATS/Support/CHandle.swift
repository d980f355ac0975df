/// An immutable pointer to a nats.c object, passed between threads.
///
/// `@unchecked Sendable` is safe: the pointer itself never changes, and the
/// nats.c objects NvisyNATS passes this way (`natsConnection`, `jsCtx`,
/// `natsSubscription`, `kvStore`, `kvWatcher`) guard their state with their own
/// mutexes, so calls from different threads are allowed by nats.c. The owners
/// (``NATSConnection``, ``PullConsumer``, ``KeyValueBucket``, ...) destroy the
/// object only in `deinit`, when no other reference to the owner, and hence no
/// call in flight, can exist.
struct CHandle: @unchecked Sendable {
    let raw: OpaquePointer
    init(_ raw: OpaquePointer) { self.raw = raw }
}
