import Foundation
import NPUKernels
import NPUSim

/// STREAM copy and triad over 64 Mi float32 per array, one thread, in GB/s (1e9 bytes/s;
/// copy moves 8 bytes per element, triad 12).
let membwBenchmark = Benchmark(name: "membw", summary: "memory bandwidth, STREAM copy and triad, GB/s") {
    let n = 64 << 20
    let x = UnsafeMutablePointer<Float>.allocate(capacity: n)
    let y = UnsafeMutablePointer<Float>.allocate(capacity: n)
    let z = UnsafeMutablePointer<Float>.allocate(capacity: n)
    defer { x.deallocate(); y.deallocate(); z.deallocate() }
    x.initialize(repeating: 1, count: n)
    y.initialize(repeating: 2, count: n)
    z.initialize(repeating: 3, count: n)
    var copy: [Double] = [], triad: [Double] = []
    npu_copy_f32(x, y, n)  // warm-up: touch every page
    npu_triad_f32(x, y, z, 3, n)
    for _ in 0..<7 {
        copy.append(8 * Double(n) / wallSeconds { npu_copy_f32(x, y, n) } / 1e9)
        triad.append(12 * Double(n) / wallSeconds { npu_triad_f32(x, y, z, 3, n) } / 1e9)
    }
    return [
        BenchFigure(bench: "membw", caseName: "copy", unit: "GB/s", values: copy),
        BenchFigure(bench: "membw", caseName: "triad", unit: "GB/s", values: triad),
    ]
}
