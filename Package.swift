// swift-tools-version:6.1
// nvisy — a plugin-host server for data and AI pipelines. Layout: see README.md ("Layout").
import Foundation
import PackageDescription

let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

/// How the embedded CPython is linked (issue 5). Debian's shared `libpython3.11.so` is PIC and
/// runs Python code ≈ 1.3–1.5× slower than its `python3.11` executable, which links the non-PIC
/// `libpython3.11.a` (libpython3.11-dev). In release builds, when that archive is there, every
/// executable that links NvisyPlugins (nvisy, the benchmarks) takes the whole archive and is
/// linked the way `python3.11` is: `-no-pie` (the archive is not position independent) and the C
/// API exported (Host/CPython/exports.list: exactly what libpython3.11.so exports) so that C
/// extension modules the interpreter loads (lib-dynload, numpy, orjson, pydantic_core …) bind to
/// it. Only those symbols are exported, never the host's Swift symbols, which plugins must not
/// bind to. Debug builds (and a machine without the archive) link the shared library: in a
/// non-PIE executable, every Swift function whose address the host takes (`\.count` key paths,
/// NSObject vtables) gets a canonical PLT entry, and glibc then warns ("direct reference to
/// protected function") each time a Swift plugin binds to one; a debug build takes many more such
/// addresses than a release build (see Host/NvisyPlugins/README.md, "Embedded Python").
let libpythonArchive = "/usr/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.a"
let pythonLinkerSettings: [LinkerSetting] = FileManager.default.fileExists(atPath: libpythonArchive)
    ? [
        .unsafeFlags(["-Xlinker", "--whole-archive", "-Xlinker", libpythonArchive, "-Xlinker", "--no-whole-archive",
                      "-Xlinker", "--dynamic-list=\(Context.packageDirectory)/Host/CPython/exports.list",
                      "-Xclang-linker", "-no-pie"], .when(configuration: .release)),
        // What the archive's built-in modules need (pyexpat, zlib; python3.11-config --libs).
        .linkedLibrary("expat", .when(configuration: .release)), .linkedLibrary("z", .when(configuration: .release)),
        .linkedLibrary("m", .when(configuration: .release)),
        .linkedLibrary("python3.11", .when(configuration: .debug)),
    ]
    : [.linkedLibrary("python3.11")]

let package = Package(
    name: "nvisy",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "nvisy", targets: ["nvisy"]),
        // The Swift plugin SDK (static: each plugin gets its own copy, nothing Swift is shared).
        .library(name: "NvisyPluginKit", targets: ["NvisyPluginKit"]),
        // Provider plugins: lib<Name>.so, loaded by the host from plugins.d/ (see PluginABI/README.md).
        .library(name: "NvisyFilesystemPlugin", type: .dynamic, targets: ["FilesystemPlugin"]),
        .library(name: "NvisyFormatsPlugin", type: .dynamic, targets: ["FormatsPlugin"]),
        .library(name: "NvisyPostgresPlugin", type: .dynamic, targets: ["PostgresPlugin"]),
        // Test and benchmark fixtures (not in plugins.d/).
        .library(name: "NvisyTrivialPlugin", type: .dynamic, targets: ["TrivialPlugin"]),
        .library(name: "NvisyFixtureABIMismatch", type: .dynamic, targets: ["FixtureABIMismatch"]),
        .library(name: "NvisyFixtureDuplicate", type: .dynamic, targets: ["FixtureDuplicate"]),
        .executable(name: "nvisy-bench-plugins", targets: ["PluginCrossingBench"]),
        .executable(name: "nvisy-bench-python", targets: ["PythonBench"]),
        .executable(name: "nvisy-bench-pipeline", targets: ["PipelineBench"]),
        .executable(name: "nvisy-bench-rag", targets: ["RAGBench"]),
        .library(name: "NvisyOpenAIPlugin", type: .dynamic, targets: ["OpenAIPlugin"]),
        .library(name: "NvisyFixtureHazards", type: .dynamic, targets: ["FixtureHazards"]),
        .executable(name: "nvisy-bench-isolation", targets: ["IsolationBench"]),
        // PLUGIN-PRODUCTS (plugin host issue: NvisyPluginKit and the Plugins/ dynamic libraries)
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.1.4"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        // API (issue 6): JWT sessions, the spec-first OpenAPI server, its YAML served as JSON.
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-openapi-generator.git", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird.git", from: "2.1.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // Webhooks (issue 9): the delivery client.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // MARK: System libraries (Debian packages, see scripts/install-deps.sh)
        .systemLibrary(name: "CSodium", path: "Host/CSodium", pkgConfig: "libsodium",
                       providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CNats", path: "Host/CNats", pkgConfig: "libnats",
                       providers: [.apt(["libnats-dev"])]),
        // Headers only (<python3.11/Python.h>); NvisyPlugins links libpython (pythonLinkerSettings).
        .systemLibrary(name: "CPython", path: "Host/CPython", providers: [.apt(["libpython3.11-dev"])]),
        // SYSTEM-LIBRARIES (CNats, CPython)

        // MARK: Host modules. Dependencies point one way: Core <- Postgres, NATS, Plugins <- Runtime ... <- Server <- nvisy
        .target(
            name: "NvisyCore",
            dependencies: [
                "CSodium",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Host/NvisyCore",
            swiftSettings: swift6
        ),
        .target(
            name: "NvisyPostgres",
            dependencies: [
                "NvisyCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Host/NvisyPostgres",
            resources: [.embedInCode("Migrations")],
            swiftSettings: swift6
        ),
        .target(
            name: "NvisyNATS",
            dependencies: [
                "NvisyCore",
                "CNats",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Host/NvisyNATS",
            exclude: ["README.md"],
            swiftSettings: swift6
        ),
        // NATS-TARGETS (NvisyNATS)
        // MARK: The plugin ABI (C), the Swift plugin SDK, the host's loader, and the plugins
        .target(
            name: "NvisyPluginABI",
            path: "PluginABI",
            exclude: ["NvisyPluginKit", "README.md"],
            sources: ["src"],
            publicHeadersPath: "include"
        ),
        .target(name: "NvisyPluginKit", dependencies: ["NvisyPluginABI"], path: "PluginABI/NvisyPluginKit",
                swiftSettings: swift6),
        .target(
            name: "NvisyPlugins",
            dependencies: [
                "NvisyCore",
                "NvisyPluginABI",
                "CPython",
                "CNvisyIsolation",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Host/NvisyPlugins",
            exclude: ["README.md"],
            swiftSettings: swift6,
            linkerSettings: pythonLinkerSettings
        ),
        .systemLibrary(name: "CLibPQ", path: "Plugins/CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "FilesystemPlugin", dependencies: ["NvisyPluginKit"], path: "Plugins/Filesystem", swiftSettings: swift6),
        .target(name: "FormatsPlugin", dependencies: ["NvisyPluginKit"], path: "Plugins/Formats", swiftSettings: swift6),
        .target(name: "PostgresPlugin", dependencies: ["NvisyPluginKit", "CLibPQ"], path: "Plugins/Postgres", swiftSettings: swift6),
        .target(name: "TrivialPlugin", dependencies: ["NvisyPluginKit"], path: "Plugins/Fixtures/Trivial", swiftSettings: swift6),
        .target(name: "FixtureABIMismatch", dependencies: ["NvisyPluginABI"], path: "Plugins/Fixtures/ABIMismatch"),
        .target(name: "FixtureDuplicate", dependencies: ["NvisyPluginABI"], path: "Plugins/Fixtures/Duplicate"),
        .target(
            name: "NvisyWebhook",
            dependencies: [
                "NvisyCore",
                "CSodium",
                "NvisyPostgres",
                "NvisyNATS",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Host/NvisyWebhook",
            exclude: ["README.md"],
            swiftSettings: swift6
        ),
        .target(
            name: "NvisyRuntime",
            dependencies: [
                "NvisyCore",
                "NvisyPostgres",
                "NvisyPlugins",
                "NvisyNATS",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Host/NvisyRuntime",
            exclude: ["README.md"],
            swiftSettings: swift6
        ),
        // The openai plugin links Foundation(Networking) only: URLSession, no second swift-nio.
        .target(name: "OpenAIPlugin", dependencies: ["NvisyPluginKit"], path: "Plugins/OpenAI", swiftSettings: swift6),
        // Process isolation (issue 11): the system calls Swift's Glibc does not import; a fixture that misbehaves.
        .target(name: "CNvisyIsolation", path: "Host/CNvisyIsolation"),
        .target(name: "FixtureHazards", dependencies: ["NvisyPluginKit"], path: "Plugins/Fixtures/Hazards", swiftSettings: swift6),
        // PLUGIN-TARGETS (NvisyPlugins, PluginABI, Plugins/)
        .target(
            name: "NvisyServer",
            dependencies: [
                "NvisyCore",
                "NvisyPostgres",
                "NvisyNATS",
                "NvisyPlugins",
                "NvisyWebhook",
                "NvisyRuntime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Host/NvisyServer",
            exclude: ["API.md"],
            resources: [.embedInCode("openapi.yaml"), .embedInCode("Console/index.html"),
                        .embedInCode("Console/console.js"), .embedInCode("Console/console.css")],
            swiftSettings: swift6,
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        .executableTarget(
            name: "nvisy",
            dependencies: [
                "NvisyServer",
                "NvisyWebhook",
                "NvisyRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Host/nvisy",
            swiftSettings: swift6
        ),

        // MARK: Tests (one target per module, mirroring Host/)
        .target(
            name: "NvisyTestSupport",
            dependencies: ["NvisyCore", "NvisyPostgres", .product(name: "Logging", package: "swift-log")],
            path: "Tests/NvisyTestSupport",
            swiftSettings: swift6
        ),
        .testTarget(name: "NvisyCoreTests", dependencies: ["NvisyCore"], swiftSettings: swift6),
        .testTarget(
            name: "NvisyPostgresTests",
            dependencies: ["NvisyPostgres", "NvisyTestSupport", .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: swift6
        ),
        .testTarget(
            name: "NvisyServerTests",
            dependencies: [
                "NvisyServer",
                "NvisyWebhook",
                "NvisyTestSupport",
                "NvisyNATS",
                "NvisyPlugins",
                "NvisyRuntime",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swift6
        ),
        .testTarget(
            name: "NvisyNATSTests",
            dependencies: ["NvisyNATS", "NvisyCore"],
            swiftSettings: swift6
        ),
        .executableTarget(
            name: "nvisy-bench-nats",
            dependencies: ["NvisyNATS", "NvisyCore"],
            path: "Tests/Benchmarks/NATSBench",
            swiftSettings: swift6
        ),
        .testTarget(
            name: "NvisyPluginsTests",
            dependencies: ["NvisyPlugins", "NvisyCore", "NvisyPostgres", "CLibPQ",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: swift6
        ),
        .executableTarget(
            name: "PluginCrossingBench",
            dependencies: ["NvisyPlugins", "NvisyPluginKit", "TrivialPlugin",
                           .product(name: "Logging", package: "swift-log")],
            path: "Tests/Benchmarks/PluginCrossingBench",
            swiftSettings: swift6
        ),
        .testTarget(
            name: "NvisyEndToEndTests",
            dependencies: ["nvisy", "NvisyCore", "NvisyTestSupport", "NvisyNATS", "NvisyPostgres",
                           .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: swift6
        ),
        .testTarget(
            name: "NvisyPythonTests",
            dependencies: ["NvisyPlugins", "NvisyCore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swift6
        ),
        .executableTarget(
            name: "PythonBench",
            dependencies: ["NvisyPlugins", "NvisyCore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/Benchmarks/PythonBench",
            swiftSettings: swift6
        ),
        .testTarget(
            name: "NvisyWebhookTests",
            dependencies: [
                "NvisyWebhook",
                "NvisyRuntime",
                "NvisyTestSupport",
                "NvisyNATS",
                "NvisyPostgres",
                "NvisyCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swift6
        ),
        .testTarget(
            name: "NvisyRuntimeTests",
            dependencies: [
                "NvisyRuntime",
                "NvisyNATS",
                "NvisyPlugins",
                "NvisyPostgres",
                "NvisyCore",
                "NvisyTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swift6
        ),
        .executableTarget(
            name: "PipelineBench",
            dependencies: [
                "NvisyRuntime",
                "NvisyPlugins",
                "NvisyPostgres",
                "NvisyCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Benchmarks/PipelineBench",
            swiftSettings: swift6
        ),
        .testTarget(
            name: "NvisyOpenAIPluginTests",
            dependencies: ["NvisyPlugins", "NvisyCore", "NvisyTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swift6
        ),
        .executableTarget(
            name: "RAGBench",
            dependencies: [
                "NvisyRuntime",
                "NvisyPlugins",
                "NvisyPostgres",
                "NvisyCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Benchmarks/RAGBench",
            swiftSettings: swift6
        ),
        .executableTarget(
            name: "IsolationBench",
            dependencies: ["NvisyPlugins", "NvisyCore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/Benchmarks/IsolationBench",
            swiftSettings: swift6
        ),
        // TEST-TARGETS (NvisyNATSTests, NvisyPluginsTests, ...)
    ]
)
