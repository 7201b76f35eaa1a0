// swift-tools-version:6.0
import PackageDescription

/// Settings every Swift target shares: Swift 6 language mode is the package default; these add the
/// upcoming features that keep APIs explicit.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "swift-parallel-ssh",
    products: [
        .library(name: "SSHBackend", targets: ["SSHBackend"]),
        .library(name: "BackendLibSSH2", targets: ["BackendLibSSH2"]),
        .library(name: "BackendLibSSH", targets: ["BackendLibSSH"]),
        .library(name: "SSHFileTransfer", targets: ["SSHFileTransfer"]),
        .library(name: "ParallelFrontend", targets: ["ParallelFrontend"]),
        .library(name: "ParallelSSH", targets: ["ParallelSSH"]),
        .library(name: "SSHConfig", targets: ["SSHConfig"]),
        .executable(name: "fleetsh", targets: ["fleetsh"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation` (the DocC catalogs of the public modules; built in CI).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // The API: protocols and value types only, no C import. Any engine implements it.
        .target(name: "SSHBackend", swiftSettings: swiftSettings),

        // The epoll event loop, TCP connect, name resolution and bounded output pipes both engines share.
        .target(name: "SSHEventLoop", dependencies: ["SSHBackend", "CEventLoopShims"], swiftSettings: swiftSettings),
        .target(name: "CEventLoopShims"),

        // What the engines share above the loop: the auth plan, the operation queue, channel bookkeeping and the
        // public session and channel types, so each engine holds only its native calls.
        .target(
            name: "SSHEngineCore",
            dependencies: ["SSHBackend", "SSHEventLoop", "SSHKnownHosts", "SSHPrivateKeys", "SSHKerberos"],
            swiftSettings: swiftSettings),

        // Kerberos tickets checked and service tickets fetched off the loops before an engine's GSSAPI call
        // (MIT krb5's GSSAPI blocks on the KDC), with the reason in words when there is none.
        .target(name: "SSHKerberos", dependencies: ["CGSSAPI"], swiftSettings: swiftSettings),
        .systemLibrary(name: "CGSSAPI", providers: [.apt(["libkrb5-dev"])]),

        // SFTP and SCP over any session's channels (`session.openSFTP()`, `session.scp()`): one non-blocking
        // implementation above the engines, which know nothing of it.
        .target(name: "SSHFileTransfer", dependencies: ["SSHBackend", "SSHEventLoop"], swiftSettings: swiftSettings),

        // Host keys as OpenSSH checks them: known_hosts files parsed once per process, patterns, hashed names,
        // markers, verdicts, the policy, the algorithm order, the writer. No C calls: both engines agree.
        .target(name: "SSHKnownHosts", dependencies: ["SSHBackend", "SSHEventLoop"], swiftSettings: swiftSettings),

        // OpenSSH's client configuration (ssh_config), evaluated as `ssh -G` does: Host, Match, Include, tokens,
        // first value wins. No C calls.
        .target(
            name: "SSHConfig", dependencies: ["SSHBackend", "SSHEventLoop", "SSHKnownHosts"],
            swiftSettings: swiftSettings),

        // The C libraries, found with pkg-config.
        .systemLibrary(
            name: "CLibSSH2", pkgConfig: "libssh2",
            providers: [.apt(["libssh2-1-dev"])]),
        .systemLibrary(
            name: "CLibSSH", pkgConfig: "libssh",
            providers: [.apt(["libssh-dev"])]),
        .systemLibrary(
            name: "CLibCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),

        // Private keys decrypted once in the process (OpenSSH's bcrypt KDF, AES, PEM through libcrypto), for an
        // engine whose library cannot keep a decrypted key (libssh2 1.10) and would otherwise derive it per session.
        .target(name: "SSHPrivateKeys", dependencies: ["CLibCrypto"], swiftSettings: swiftSettings),

        // The engines.
        .target(
            name: "BackendLibSSH2",
            dependencies: ["SSHBackend", "SSHEngineCore", "SSHEventLoop", "SSHPrivateKeys", "CLibSSH2"],
            swiftSettings: swiftSettings),
        .target(
            name: "BackendLibSSH", dependencies: ["SSHBackend", "SSHEngineCore", "SSHEventLoop", "CLibSSH"],
            swiftSettings: swiftSettings),

        // The parallel client: parallel-ssh's API over any engine (it imports none).
        .target(
            name: "ParallelFrontend",
            dependencies: [
                "SSHBackend", "SSHEventLoop", "SSHFileTransfer", "SSHConfig",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        // One import for the common case: the frontend, both engines and the API, libssh2 as the default engine.
        .target(
            name: "ParallelSSH",
            dependencies: [
                "ParallelFrontend", "SSHBackend", "SSHConfig", "BackendLibSSH2", "BackendLibSSH",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        // The command-line tool's logic (host sets, shards, the run, output modes, the exit-code contract), kept out
        // of the executable so it is unit-tested; `fleetsh` is its command line.
        .target(
            name: "FleetCLI",
            dependencies: [
                "ParallelFrontend", "SSHBackend", "SSHConfig", "SSHKnownHosts", "BackendLibSSH2", "BackendLibSSH",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "fleetsh",
            dependencies: [
                "FleetCLI", "ParallelFrontend", "SSHBackend", "SSHFileTransfer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        // A scripted in-memory engine, for testing the frontend's logic beside the real-server tests (with an
        // in-memory SFTP subsystem, so copies run without a server too).
        .target(
            name: "SSHFakeBackend", dependencies: ["SSHBackend", "SSHEventLoop", "SSHFileTransfer"],
            swiftSettings: swiftSettings),

        // Test support: real OpenSSH sshd processes, keys, agents, black-hole listeners.
        .target(
            name: "SSHTestSupport", dependencies: ["SSHBackend", "SSHEventLoop"],
            swiftSettings: swiftSettings),

        // The README's first command: three throwaway sshd servers, a command on each, through every engine.
        .executableTarget(
            name: "ssh-demo",
            dependencies: ["ParallelSSH", "SSHTestSupport"],
            swiftSettings: swiftSettings),

        // The parsers that read untrusted bytes, as fuzz targets (FuzzTargets), and one libFuzzer binary for them
        // all (fuzz/run builds it with --sanitize=fuzzer -DFUZZING; built plainly it replays files).
        .target(
            name: "FuzzTargets",
            dependencies: [
                "SSHBackend", "SSHEngineCore", "SSHFileTransfer", "SSHKnownHosts", "SSHConfig", "SSHPrivateKeys",
                "FleetCLI", "ParallelFrontend",
            ],
            swiftSettings: swiftSettings),
        .executableTarget(name: "fuzz", dependencies: ["FuzzTargets"], swiftSettings: swiftSettings),

        // Our side of the benchmarks in bench/ (release build): one workload per run, figures as JSON.
        .executableTarget(
            name: "pssh-bench",
            dependencies: [
                "SSHBackend", "BackendLibSSH2", "BackendLibSSH", "ParallelFrontend", "SSHKnownHosts", "SSHConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),

        // A child program for the exit-time test: sessions streaming on both engines when the process exits.
        .executableTarget(
            name: "exit-probe", dependencies: ["SSHBackend", "BackendLibSSH2", "BackendLibSSH"],
            path: "Tests/ExitProbe",
            swiftSettings: swiftSettings),

        // The Swift examples of README.md and the DocC articles, compiled with the package (never run).
        .executableTarget(
            name: "readme-examples", dependencies: ["ParallelSSH", "SSHFileTransfer"], path: "Tests/ReadmeExamples",
            swiftSettings: swiftSettings),

        // Unit tests that need no server: the loop, the bounded buffer, the drivers against a scripted native
        // engine, SFTP packets, SCP headers and path safety.
        .testTarget(
            name: "CoreUnitTests",
            dependencies: [
                "SSHBackend", "SSHEventLoop", "SSHEngineCore", "SSHFileTransfer", "SSHKnownHosts", "SSHConfig",
                "SSHPrivateKeys", "SSHTestSupport",
            ],
            swiftSettings: swiftSettings),

        // One conformance suite that every engine passes unchanged.
        .testTarget(
            name: "BackendConformanceTests",
            dependencies: [
                "SSHBackend", "BackendLibSSH2", "BackendLibSSH", "SSHFileTransfer", "SSHTestSupport", "SSHEventLoop",
                "exit-probe",
            ],
            swiftSettings: swiftSettings),
        // The tool: host sets, shards and output against oracles, and the built `fleetsh` against real sshd.
        .testTarget(
            name: "CLITests",
            dependencies: [
                "FleetCLI", "ParallelFrontend", "SSHTestSupport", "fleetsh",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // Every committed fuzz seed and every input that once crashed a target, replayed.
        .testTarget(name: "FuzzReplayTests", dependencies: ["FuzzTargets"], swiftSettings: swiftSettings),
        .testTarget(
            name: "FrontendTests",
            dependencies: [
                "ParallelFrontend", "SSHFakeBackend", "SSHBackend", "BackendLibSSH2", "BackendLibSSH",
                "SSHTestSupport", "SSHConfig", "SSHEventLoop", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
    ]
)
