// swift-tools-version: 6.1
import Foundation
import PackageDescription

// No compiler flags (so no unsafeFlags: the package can be a versioned dependency). The C kernels
// set their own floating-point rules and pick their vector width at run time (Kernels/npu_build.h).
let package = Package(
    name: "NPUSim",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "NPUSim", targets: ["NPUSim"]),
        .executable(name: "npusim", targets: ["npusim"]),
        // The engine's C ABI for other languages (`make python` ships it as libnpusim.so).
        .library(name: "NPUSimEngine", type: .dynamic, targets: ["NPUSimEngine"]),
        // Plain-C yardsticks `npusim bench` runs (found next to npusim).
        .executable(name: "npusim-yardstick-sgemm", targets: ["YardstickSGEMM"]),
        .executable(name: "npusim-yardstick-sum", targets: ["YardstickSum"]),
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
        // zlib from Debian's zlib1g-dev, for gzip-compressed datasets (MNIST's .gz idx files).
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Open MPI from Debian's libopenmpi-dev: the transport between ranks under mpirun.
        .systemLibrary(
            name: "CMPI",
            path: "Sources/CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]
        ),
        // Plain C hot loops (DESIGN.md §4, "kernels like llm.c").
        .target(
            name: "NPUKernels",
            dependencies: ["COpenBLAS"],
            path: "Kernels"
        ),
        .target(
            name: "NPUDevice",
            dependencies: [.product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "NPUTensor",
            dependencies: ["NPUDevice", "NPUKernels", "COpenBLAS", "CZlib"]
        ),
        .target(
            name: "NPURandom",
            dependencies: ["NPUDevice", "NPUTensor", "NPUKernels"]
        ),
        .target(
            name: "NPUOps",
            dependencies: ["NPUDevice", "NPUTensor", "NPURandom", "NPUKernels", "COpenBLAS"]
        ),
        .target(
            name: "NPUGraph",
            dependencies: ["NPUDevice", "NPUTensor", "NPURandom", "NPUOps"]
        ),
        .target(
            name: "NPUProfile",
            dependencies: ["NPUDevice"]
        ),
        .target(
            name: "NPUCollective",
            dependencies: ["NPUDevice", "NPUTensor", "NPUOps", "NPUKernels"]
        ),
        .target(
            name: "NPUTrain",
            dependencies: ["NPUDevice", "NPUTensor", "NPURandom", "NPUOps", "NPUGraph", "NPUCollective", "NPUData"]
        ),
        .target(
            name: "NPUData",
            dependencies: ["NPUDevice", "NPUTensor", "NPURandom", "CZlib"]
        ),
        .target(
            name: "NPUScript",
            dependencies: ["NPUDevice", "NPUTensor", "NPURandom", "NPUOps", "NPUGraph", "NPUTrain", "NPUData", "NPUProfile", "NPUCollective",
                           .product(name: "Yams", package: "Yams")]
        ),
        // The studies on top of the runner: check, drift, localize, and their reports and plots.
        .target(
            name: "NPUStudy",
            dependencies: ["NPUDevice", "NPUTensor", "NPUOps", "NPUGraph", "NPUTrain", "NPUData", "NPUScript", "NPUProfile"]
        ),
        .target(
            name: "NPUSim",
            dependencies: ["NPUDevice", "NPUTensor", "NPURandom", "NPUOps", "NPUGraph", "NPUCollective", "NPUTrain", "NPUData", "NPUScript", "NPUStudy", "NPUProfile"]
        ),
        // Ranks under mpirun: the card exchange and the drift slices over MPI (the CLI's only;
        // the library and the Python engine do not link MPI).
        .target(
            name: "NPUMPI",
            dependencies: ["CMPI", "NPUGraph", "NPUStudy", "NPUTrain"]
        ),
        .target(
            name: "NPUSimEngine",
            dependencies: ["NPUSim"]
        ),
        .executableTarget(
            name: "npusim",
            dependencies: [
                "NPUSim", "NPUKernels", "NPUMPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "YardstickSGEMM", dependencies: ["COpenBLAS"]),
        .executableTarget(name: "YardstickSum"),
        .testTarget(name: "NPUSimCLITests", dependencies: ["npusim", "NPUTensor"]),
        .testTarget(name: "NPUSimAPITests", dependencies: ["NPUSim"]),
        .testTarget(name: "NPURandomTests", dependencies: ["NPURandom", "NPUKernels"], exclude: ["Fixtures"]),
        .testTarget(name: "NPUOpsTests", dependencies: ["NPUOps", "NPUKernels"]),
        .testTarget(name: "NPUGraphTests", dependencies: ["NPUGraph"]),
        .testTarget(name: "NPUTrainTests", dependencies: ["NPUTrain"]),
        .testTarget(name: "NPUProfileTests", dependencies: ["NPUProfile", "NPUScript", "NPUDevice"], exclude: ["Fixtures"]),
        .testTarget(name: "NPUCollectiveTests", dependencies: ["NPUCollective", "NPUOps", "NPUTensor", "NPUDevice"]),
        .testTarget(name: "NPUDataTests", dependencies: ["NPUData", "NPUTensor", "NPUOps", "NPURandom"], exclude: ["Fixtures"]),
        .testTarget(name: "NPUScriptTests", dependencies: ["NPUScript", "NPUData", "NPUTensor", "NPUTrain", "NPUDevice", "NPUOps", "NPUGraph", "NPURandom"], exclude: ["Fixtures"]),
        .testTarget(name: "NPUStudyTests", dependencies: ["NPUStudy", "NPUScript", "NPUData", "NPUTensor", "NPUTrain", "NPUOps"]),
        .testTarget(name: "NPUDeviceTests", dependencies: ["NPUDevice"]),
        .testTarget(name: "NPUTensorTests", dependencies: ["NPUTensor", "NPUKernels"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer harnesses, one per parser a user can feed (`make fuzz` builds them with
// -sanitize=fuzzer; they call libFuzzer's driver, so they exist only in that build).
if ProcessInfo.processInfo.environment["NPUSIM_FUZZ"] != nil {
    // The plain-C yardsticks have a main of their own, which libFuzzer's driver would duplicate
    // at link time; the fuzz build has no use for them.
    package.products.removeAll { $0.name.hasPrefix("npusim-yardstick-") }
    package.targets.removeAll { $0.name.hasPrefix("Yardstick") }
    package.targets.append(.target(name: "FuzzSupport", path: "Fuzz/FuzzSupport"))
    for (name, module) in [("FuzzNPY", "NPUTensor"), ("FuzzProfile", "NPUDevice"), ("FuzzSeeds", "NPURandom"), ("FuzzScript", "NPUScript"), ("FuzzSafetensors", "NPUTensor"), ("FuzzMindSporeCkpt", "NPUTensor"), ("FuzzIDX", "NPUData"), ("FuzzCSV", "NPUData"), ("FuzzCIFAR10", "NPUData"), ("FuzzDriftShard", "NPUStudy")] {
        package.targets.append(.executableTarget(name: name, dependencies: ["FuzzSupport", .target(name: module)], path: "Fuzz/\(name)"))
        package.products.append(.executable(name: name, targets: [name]))
    }
    // Mutated example scripts through the real npusim binary (a driver, not a libFuzzer harness).
    package.targets.append(.executableTarget(name: "MutateScripts", dependencies: [.product(name: "Yams", package: "Yams")], path: "Fuzz/MutateScripts"))
    package.products.append(.executable(name: "MutateScripts", targets: ["MutateScripts"]))
}
