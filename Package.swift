// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "auditlog",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "auditlog", targets: ["auditlog"]),
        .library(name: "PostgresLibPQ", targets: ["PostgresLibPQ"]),
        .library(name: "AuditLogClient", targets: ["AuditLogClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-openapi-generator.git", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        .package(url: "https://github.com/swift-server/swift-openapi-async-http-client.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // glibc's <malloc.h> (mallopt), for the server's allocator settings.
        .systemLibrary(name: "CMalloc"),
        .target(
            name: "PostgresLibPQ",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "AuditCore",
            dependencies: [
                "CCrypto",
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            resources: [.copy("Templates")]
        ),
        .target(
            name: "AuditStore",
            dependencies: [
                "AuditCore",
                "PostgresLibPQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "AuditHTTP",
            dependencies: [
                "AuditCore",
                "AuditStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                "AuditStreams",
            ],
            resources: [.copy("Viewer"), .copy("OpenAPI")]
        ),
        // Log streams: delivery to webhooks and SIEMs (AsyncHTTPClient), the destination rules,
        // and each kind's request format. AuditHTTP only configures streams.
        .target(
            name: "AuditStreams",
            dependencies: [
                "AuditCore",
                "AuditStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "AuditDemo",
            dependencies: ["AuditCore", "AuditStore"]
        ),
        .executableTarget(
            name: "auditlog",
            dependencies: [
                "AuditCore",
                "AuditStore",
                "AuditHTTP",
                "AuditStreams",
                "AuditDemo",
                "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The publisher's client: generated from openapi/auditlog.yaml at build time, plus the
        // buffering, batching, retrying layer in AuditLogPublisher. The server does not depend on it.
        .target(
            name: "AuditLogClient",
            dependencies: [
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        .target(
            name: "TestSupport",
            dependencies: ["AuditStore", "PostgresLibPQ"],
            path: "Tests/TestSupport"
        ),
        .testTarget(name: "AuditCoreTests", dependencies: ["AuditCore", .product(name: "Mustache", package: "swift-mustache")]),
        .testTarget(name: "PostgresLibPQTests", dependencies: ["PostgresLibPQ", "TestSupport"]),
        .testTarget(name: "AuditStoreTests", dependencies: ["AuditStore", "AuditCore", "PostgresLibPQ", "TestSupport"]),
        .testTarget(
            name: "AuditHTTPTests",
            dependencies: [
                "AuditHTTP", "AuditStore", "AuditStreams", "AuditDemo", "TestSupport", "PostgresLibPQ", "AuditLogClient",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
