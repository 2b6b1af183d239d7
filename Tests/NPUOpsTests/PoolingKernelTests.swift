import Testing
import NPUDevice
import NPUTensor
@testable import NPUOps

/// The unrolled 2×2/2 max-pool path against a direct loop: first maximum wins ties, a NaN is kept
/// once it is the maximum, odd sizes drop the last row and column.
@Suite struct PoolingKernelTests {
    /// Max and argmax (offset in the plane) by the definition.
    func reference(_ x: [Float], planes: Int, h: Int, w: Int) -> ([Float], [Int32]) {
        let (oh, ow) = ((h - 2) / 2 + 1, (w - 2) / 2 + 1)
        var y: [Float] = [], at: [Int32] = []
        for p in 0..<planes {
            for i in 0..<oh {
                for j in 0..<ow {
                    var best = Float.zero, arg = -1
                    for (di, dj) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let o = (2 * i + di) * w + 2 * j + dj
                        let v = x[p * h * w + o]
                        if arg < 0 || v > best { (best, arg) = (v, o) }
                    }
                    y.append(best)
                    at.append(Int32(arg))
                }
            }
        }
        return (y, at)
    }

    @Test(arguments: [(4, 4), (5, 7), (2, 2), (3, 6)])
    func twoByTwoMatchesTheDefinition(h: Int, w: Int) throws {
        let planes = 3
        // Few distinct values: many ties; a NaN and infinities in some windows.
        var values = (0..<(planes * h * w)).map { Float(($0 * 7919) % 5) - 2 }
        values[1] = .nan
        values[w] = .infinity
        values[values.count - 1] = -.infinity
        let x = try Tensor(shape: [1, planes, h, w], values: values)
        let (y, argmax) = try MaxPool2D(kernel: (2, 2), stride: (2, 2)).pool(x)
        let (ry, rat) = reference(values, planes: planes, h: h, w: w)
        #expect(try y.toArray(of: Float.self).map(\.bitPattern) == ry.map(\.bitPattern))
        #expect(argmax == rat)
    }

    /// A window far larger than the input ("same" padding) costs the input's size, not the
    /// kernel's: it used to scan 10^14 positions. Every output sees the whole plane.
    @Test func aHugeWindowIsClippedToTheInput() throws {
        let values: [Float] = [3, -1, 7, 2, 0, 5, -4, 6, 1, 9, -2, 8, 4, -3, 2, 0]
        let x = try Tensor(shape: [1, 1, 4, 4], values: values)
        let huge = 10_000_000
        let (y, argmax) = try MaxPool2D(kernel: (huge, huge), stride: (2, 2), padMode: .same).pool(x)
        let maxima = try y.toArray(of: Float.self)
        #expect(y.shape == [1, 1, 2, 2] && maxima == [9, 9, 9, 9] && argmax == [9, 9, 9, 9])
        let ctx = KernelContext(planner: ReductionPlanner(spec: .ascend910, policy: .on))
        let mean = try AvgPool2D(kernel: (huge, huge), stride: (2, 2), padMode: .same).forward([x], ctx)[0]
        let m = values.reduce(0, +) / 16
        let means = try mean.toArray(of: Float.self)
        #expect(means.count == 4 && means.allSatisfy { abs($0 - m) < 1e-6 })
    }

    /// MaxPool's backward sends each dy to its window's first maximum; where windows overlap (3×3
    /// stride 2, "same" padding) an input collects several, added in window order. Checked bit for
    /// bit against that definition, with ties and a dy that does not sum exactly in another order.
    @Test func theGradientGoesToEachWindowsFirstMaximumInWindowOrder() throws {
        let (planes, h, w) = (2, 7, 6)
        let values = (0..<(planes * h * w)).map { Float(($0 * 7919) % 4) }
        let x = try Tensor(shape: [1, planes, h, w], values: values)
        let pool = MaxPool2D(kernel: (3, 3), stride: (2, 2), padMode: .same)
        let (y, argmax) = try pool.pool(x)
        let dyValues: [Float] = (0..<y.count).map { k in Float(1 + k % 3) * 0.1 + (k % 2 == 0 ? 1e7 : 0) }
        let dy = try Tensor(shape: y.shape, values: dyValues)
        let ctx = KernelContext(planner: ReductionPlanner(spec: .ascend910, policy: .on))
        let dx = try MaxPoolGrad(kernel: (3, 3), stride: (2, 2), padMode: .same).forward([x, dy], ctx)[0]
        var expected = [Float](repeating: 0, count: x.count)
        let outPlane = y.shape[2] * y.shape[3]
        for k in 0..<y.count { expected[(k / outPlane) * h * w + Int(argmax[k])] += dyValues[k] }
        let got = try dx.toArray(of: Float.self)
        #expect(got.map { $0.bitPattern } == expected.map { $0.bitPattern })
        // Windows overlap: some input took more than one window's gradient.
        #expect(Set(argmax.indices.map { ($0 / outPlane) * h * w + Int(argmax[$0]) }).count < y.count)
    }
}

