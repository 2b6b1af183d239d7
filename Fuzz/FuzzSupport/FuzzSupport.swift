// Starts libFuzzer's driver with this process's arguments (SwiftPM gives every executable its own
// entry point, so the harness calls the driver instead of using libFuzzer's main).
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                                 _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                                 _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

nonisolated(unsafe) private var harness: ((UnsafePointer<UInt8>, Int) -> Int32)?

/// Runs libFuzzer with `testOneInput` as LLVMFuzzerTestOneInput; exits with the driver's status.
public func runFuzzer(_ testOneInput: @escaping (UnsafePointer<UInt8>, Int) -> Int32) -> Never {
    harness = testOneInput
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        let empty: UInt8 = 0
        return withUnsafePointer(to: empty) { harness!(data ?? $0, size) }
    }
    exit(status)
}

@_silgen_name("exit")
private func exit(_ status: Int32) -> Never
