// swift-tools-version:5.9
// CloudflareDurable for Swift: the Rust core through uniffi.
//
// NOT COMPILED on the machine this was written on (no Swift toolchain there).
// Link the Rust library built by `cargo build --release -p cloudflare_durable_uniffi`
// (libcloudflare_durable_uniffi.{dylib,so,a}); see README.md.
import PackageDescription

let package = Package(
    name: "CloudflareDurable",
    platforms: [.macOS(.v12), .iOS(.v15)],
    products: [
        .library(name: "CloudflareDurable", targets: ["CloudflareDurable"]),
    ],
    targets: [
        // The C declarations of the Rust library (generated header; SwiftPM
        // derives the module map from include/CloudflareDurableFFI.h).
        .target(
            name: "CloudflareDurableFFI",
            path: "Sources/CloudflareDurableFFI",
            linkerSettings: [.linkedLibrary("cloudflare_durable_uniffi")]
        ),
        // Generated Swift (Sources/CloudflareDurable/Generated) plus the
        // hand-written idiomatic layer (DurableClient.swift, JSONValue.swift).
        .target(
            name: "CloudflareDurable",
            dependencies: ["CloudflareDurableFFI"],
            path: "Sources/CloudflareDurable"
        ),
        .testTarget(
            name: "CloudflareDurableTests",
            dependencies: ["CloudflareDurable"],
            path: "Tests/CloudflareDurableTests"
        ),
    ]
)
