import Testing
import NPUDevice
import NPUTensor
@testable import NPUOps

/// HBM over time in PyNative: an op's outputs hold HBM while their tensors live, a kernel's
/// workspace while it runs; a launch that does not fit is reported, naming the op, when the host
/// next reads.
@Suite struct HBMAccountingTests {
    /// The test card with `bytes` of HBM.
    func card(hbm bytes: Int64) -> Device {
        var spec = DeviceSpec.test
        spec.hbmBytes = bytes
        return Device(spec: spec)
    }

    @Test func outputsHoldHBMWhileTheirTensorsLive() throws {
        let device = card(hbm: 1 << 20)
        let ctx = PyNative(device: device, determinism: .on)
        var y: Tensor? = try ctx.run(Exp(), [sampleTensor([1000])])[0]
        #expect(device.memoryInUse == 4000)
        let z = try ctx.run(Reshape(shape: [10, 100]), [y!])[0]  // a view: no new HBM
        #expect(device.memoryInUse == 4000)
        y = nil
        #expect(device.memoryInUse == 4000)  // the view keeps the storage
        _ = z
        _ = try ctx.read(z)
    }

    @Test func hbmIsReturnedWhenTensorsDie() throws {
        let device = card(hbm: 1 << 20)
        let ctx = PyNative(device: device, determinism: .on)
        for _ in 0..<100 { _ = try ctx.run(Exp(), [sampleTensor([10_000])])[0] }  // 40 kB each, 4 MB in all
        #expect(device.memoryInUse == 0)
        #expect(device.peakMemoryInUse == 40_000)
        #expect(throws: Never.self) { try device.checkedSynchronize() }
    }

    @Test func anOutputThatDoesNotFitIsReportedAtTheNextReadNamingTheOp() throws {
        let device = card(hbm: 64 << 10)
        let ctx = PyNative(device: device, determinism: .on)
        let a = try ctx.run(Exp(), [sampleTensor([10_000])], name: "net/exp1")[0]  // 40 kB: fits
        let b = try ctx.run(Exp(), [a], name: "net/exp2")[0]  // another 40 kB: does not
        #expect(throws: DeviceError.outOfMemory(device: "test:0", what: "net/exp2 output", requested: 40_000, free: 65_536 - 40_000,
                                               capacity: 65_536)) {
            _ = try ctx.read(b)
        }
        #expect(throws: Never.self) { _ = try ctx.read(a) }  // reported once
    }

    @Test func aWorkspaceThatDoesNotFitNamesTheKernel() throws {
        let device = card(hbm: 64 << 10)
        let ctx = PyNative(device: device, determinism: .on)
        // Output 1·2·8·8 floats (512 B); im2col workspace 2·3·3 × 64 columns × 4 B = 4.6 kB.
        let x = sampleTensor([1, 2, 10, 10]), w = sampleTensor([2, 2, 3, 3], seed: 2)
        let work = Conv2D().work([x.type, w.type], [TensorType(.float32, [1, 2, 8, 8])])
        #expect(work.workspaceBytes == 4 * 18 * 64)
        let y = try ctx.run(Conv2D(), [x, w], name: "conv")[0]
        #expect(throws: Never.self) { _ = try ctx.read(y) }
        let big = sampleTensor([1, 2, 70, 70])  // 39 kB in; its im2col is 18 × 4624 × 4 = 333 kB
        let z = try ctx.run(Conv2D(), [big, w], name: "conv2")[0]
        #expect(throws: DeviceError.outOfMemory(device: "test:0", what: "conv2 workspace", requested: 4 * 18 * 4624,
                                               free: 65_536 - Int64(y.byteCount + z.byteCount), capacity: 65_536)) {
            _ = try ctx.read(z)
        }
        #expect(device.peakMemoryInUse > 65_536)
        let records = device.timeline.filter { $0.name == "conv2" }
        #expect(records.first?.hbmInUse == Int64(y.byteCount + z.byteCount) + 4 * 18 * 4624)
    }
}
