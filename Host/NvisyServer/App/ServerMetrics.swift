import Metrics
import Prometheus

/// The process's one Prometheus registry, installed as the swift-metrics backend once.
public enum ServerMetrics {
    /// Every metric of the process, emitted by `GET /metrics`.
    public static let registry = PrometheusCollectorRegistry()

    private static let bootstrapped: Bool = {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
        return true
    }()

    /// Installs the registry as the metrics backend; later calls do nothing.
    public static func bootstrap() {
        _ = bootstrapped
    }
}
