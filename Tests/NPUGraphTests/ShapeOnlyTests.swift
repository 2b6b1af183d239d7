import Foundation
import Testing
import NPUDevice
import NPUOps
import NPUTensor
@testable import NPUGraph

/// Reshape is a view on the card (MindSpore's graph runs no kernel for it): neither executor
/// launches a task for it, so it takes no simulated time; its values are still right.
@Suite struct ShapeOnlyTests {
    @Test func graphModeLaunchesNoReshapeKernel() throws {
        var g = Graph()
        let x = g.input("x", TensorType(.float32, [2, 3]))
        let r = try g.apply(Reshape(shape: [3, 2]), [x])[0]
        let y = try g.apply(Exp(), [r])[0]
        let device = Device(spec: .test)
        let compiled = try CompiledGraph(g, fetches: [y], device: device, store: ParameterStore(), planner: planner())
        let out = try compiled.step(["x": try Tensor(shape: [2, 3], values: (0..<6).map { Float($0) })])
        device.synchronize()
        #expect(out[0].shape == [3, 2] && floats(out[0]) == (0..<6).map { expf(Float($0)) })
        let kernels = device.timeline.filter { if case .kernel = $0.kind { true } else { false } }
        #expect(kernels.map(\.type) == ["Exp"])
    }

    @Test func pyNativeLaunchesNoReshapeKernel() throws {
        let device = Device(spec: .test)
        let ctx = PyNative(device: device, determinism: .on)
        let y = try ctx.run(Reshape(shape: [-1]), [sampleTensor([2, 3])])[0]
        device.synchronize()
        #expect(y.shape == [6])
        #expect(device.timeline.isEmpty)
        #expect(!Reshape(shape: [1]).launchesKernel && Exp().launchesKernel)
    }
}

/// A compiled graph's memory plan holds each kernel's workspace while it runs.
@Suite struct WorkspacePlanTests {
    @Test func theMemoryPlanIncludesTheLargestWorkspace() throws {
        var g = Graph()
        let x = g.input("x", TensorType(.float32, [1, 2, 70, 70]))
        let w = g.constant(sampleTensor([2, 2, 3, 3], seed: 2))
        let y = try g.apply(Conv2D(), [x, w])[0]
        let compiled = try CompiledGraph(g, fetches: [y], device: Device(spec: .test), store: ParameterStore(), planner: planner())
        // Output 2·68·68 floats live while the im2col matrix (18 × 4624 floats) is held.
        #expect(compiled.memory.peakBytes == 4 * (2 * 68 * 68) + 4 * 18 * 4624)
        var small = DeviceSpec.test
        small.hbmBytes = 200_000  // fits input, weights and output, not the workspace
        #expect(throws: GraphError.self) {
            try CompiledGraph(g, fetches: [y], device: Device(spec: small), store: ParameterStore(), planner: planner())
        }
    }
}
