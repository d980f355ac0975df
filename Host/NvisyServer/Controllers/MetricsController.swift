import Hummingbird

/// `GET /metrics`: the Prometheus text exposition of every swift-metrics metric.
public struct MetricsController: Sendable {
    public init() {}

    public func addRoutes(to router: Router<NvisyRequestContext>) {
        router.get("/metrics") { _, _ in
            var buffer = [UInt8]()
            buffer.reserveCapacity(16 * 1024)
            ServerMetrics.registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
    }
}
