// swift-tools-version: 6.1
import Foundation
import PackageDescription

// Bits matter in this project: C is built with -O3 and -ffp-contract=off (never fast-math), and
// both C and Swift are built for the machine's vector width (results do not depend on it: every
// reduction fixes its own accumulation order in code).
let nativeC: [CSetting] = [.unsafeFlags(["-O3", "-ffp-contract=off", "-fno-fast-math", "-march=native"])]
let nativeSwift: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=native"])]

let package = Package(
    name: "NPUSim",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "NPUSim", targets: ["NPUSim"]),
        .executable(name: "npusim", targets: ["npusim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // OpenBLAS from Debian's libopenblas-dev (`make setup` installs it).
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Plain C hot loops (DESIGN.md §4, "kernels like llm.c").
        .target(
            name: "NPUKernels",
            dependencies: ["COpenBLAS"],
            path: "Kernels",
            cSettings: nativeC
        ),
        .target(
            name: "NPUDevice",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: nativeSwift
        ),
        .target(
            name: "NPUTensor",
            dependencies: ["NPUDevice", "NPUKernels", "COpenBLAS"],
            swiftSettings: nativeSwift
        ),
        .target(
            name: "NPURandom",
            dependencies: ["NPUDevice", "NPUTensor", "NPUKernels"],
            swiftSettings: nativeSwift
        ),
        .target(
            name: "NPUOps",
            dependencies: ["NPUDevice", "NPUTensor", "NPURandom", "NPUKernels", "COpenBLAS"],
            swiftSettings: nativeSwift
        ),
        .target(
            name: "NPUGraph",
            dependencies: ["NPUDevice", "NPUTensor", "NPURandom", "NPUOps"],
            swiftSettings: nativeSwift
        ),
        .target(
            name: "NPUTrain",
            dependencies: ["NPUDevice", "NPUTensor", "NPURandom", "NPUOps", "NPUGraph"],
            swiftSettings: nativeSwift
        ),
        .target(
            name: "NPUSim",
            dependencies: ["NPUDevice", "NPUTensor", "NPURandom", "NPUOps", "NPUGraph", "NPUTrain"],
            swiftSettings: nativeSwift
        ),
        .executableTarget(
            name: "npusim",
            dependencies: [
                "NPUSim", "NPUKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: nativeSwift
        ),
        .testTarget(name: "NPUSimCLITests", dependencies: ["npusim"], swiftSettings: nativeSwift),
        .testTarget(name: "NPUSimAPITests", dependencies: ["NPUSim"], swiftSettings: nativeSwift),
        .testTarget(name: "NPURandomTests", dependencies: ["NPURandom", "NPUKernels"], exclude: ["Fixtures"], swiftSettings: nativeSwift),
        .testTarget(name: "NPUOpsTests", dependencies: ["NPUOps", "NPUKernels"], swiftSettings: nativeSwift),
        .testTarget(name: "NPUGraphTests", dependencies: ["NPUGraph"], swiftSettings: nativeSwift),
        .testTarget(name: "NPUTrainTests", dependencies: ["NPUTrain"], swiftSettings: nativeSwift),
        .testTarget(name: "NPUDeviceTests", dependencies: ["NPUDevice"], swiftSettings: nativeSwift),
        .testTarget(name: "NPUTensorTests", dependencies: ["NPUTensor", "NPUKernels"], exclude: ["Fixtures"], swiftSettings: nativeSwift),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer harnesses, one per parser a user can feed (`make fuzz` builds them with
// -sanitize=fuzzer; they call libFuzzer's driver, so they exist only in that build).
if ProcessInfo.processInfo.environment["NPUSIM_FUZZ"] != nil {
    package.targets.append(.target(name: "FuzzSupport", path: "Fuzz/FuzzSupport"))
    for (name, module) in [("FuzzNPY", "NPUTensor"), ("FuzzProfile", "NPUDevice"), ("FuzzSeeds", "NPURandom")] {
        package.targets.append(.executableTarget(name: name, dependencies: ["FuzzSupport", .target(name: module)], path: "Fuzz/\(name)"))
        package.products.append(.executable(name: name, targets: [name]))
    }
}
