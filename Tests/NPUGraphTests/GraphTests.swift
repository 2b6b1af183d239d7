import Testing
@testable import NPUDevice
import NPUOps
import NPUTensor
@testable import NPUGraph

func floats(_ t: Tensor) -> [Float] { try! t.toArray(of: Float.self) }
func planner() -> ReductionPlanner { ReductionPlanner(spec: .test, policy: .on) }

@Suite struct GraphTests {
    @Test func gradientsOfAValueUsedTwiceAreSummed() throws {
        var g = Graph()
        let x = g.input("x", TensorType(.float32, [3]))
        let w = g.parameter("w", TensorType(.float32, [3]))
        let xw = try g.apply(Mul(), [x, w])[0], wx = try g.apply(Mul(), [w, x])[0]
        let loss = try g.apply(ReduceSum(), [try g.apply(Add(), [xw, wx])[0]])[0]
        let dw = try #require(try g.gradients(of: loss, wrt: [w])[0])
        let store = ParameterStore()
        store["w"] = try Tensor(shape: [3], values: [Float(1), 2, 3])
        let compiled = try CompiledGraph(g, fetches: [loss, dw], device: Device(spec: .test), store: store, planner: planner())
        let out = try compiled.step(["x": try Tensor(shape: [3], values: [Float(0.5), -1, 4])])
        let expectedLoss: Float = 2 * (0.5 - 2 + 12)
        #expect(floats(out[0]) == [expectedLoss])
        #expect(floats(out[1]) == [1, -2, 8])  // d/dw (2·x·w) = 2x
    }

    @Test func lossMustBeAFloatScalar() throws {
        var g = Graph()
        let x = g.input("x", TensorType(.float32, [3]))
        let y = try g.apply(Exp(), [x])[0]
        #expect(throws: OpError("gradients", "the loss must be a float32 scalar, got float32[3] from Exp")) {
            try g.gradients(of: y, wrt: [x])
        }
    }

    @Test func deadCodeIsRemovedAndConstantsAreFolded() throws {
        var g = Graph()
        let x = g.input("x", TensorType(.float32, [4]))
        _ = try g.apply(Exp(), [x])  // unused
        let c = try g.apply(Sqrt(), [g.constant(try Tensor(shape: [4], values: [Float(1), 4, 9, 16]))])[0]  // constant
        let y = try g.apply(Mul(), [x, c])[0]
        let device = Device(spec: .test)
        let compiled = try CompiledGraph(g, fetches: [y], device: device, store: ParameterStore(), planner: planner())
        #expect(!compiled.schedule.contains(1))  // the Exp node
        let out = try compiled.step(["x": try Tensor(shape: [4], values: [Float(1), 1, 1, 2])])
        #expect(floats(out[0]) == [1, 2, 3, 8])
        device.synchronize()
        #expect(device.timeline.filter { $0.type != "EventRecord" && $0.type != "EventWait" }.map(\.type) == ["MemcpyH2D", "Mul", "MemcpyD2H"])
    }

    @Test func memoryPlanFreesValuesAfterTheirLastReader() throws {
        // x → a → b → c: at most two of a, b, c (1000 floats each) are alive at once.
        var g = Graph()
        let x = g.input("x", TensorType(.float32, [1000]))
        let a = try g.apply(Exp(), [x])[0]
        let b = try g.apply(Neg(), [a])[0]
        let c = try g.apply(Neg(), [b])[0]
        let compiled = try CompiledGraph(g, fetches: [c], device: Device(spec: .test), store: ParameterStore(), planner: planner())
        #expect(compiled.memory.peakBytes == 8000)
        #expect(compiled.memory.residentBytes == 4000)
    }

    @Test func aViewOwnsNoMemoryAndEachOutputIsFreedOnItsOwn() throws {
        // x → a → Reshape (a view of a, no kernel) → b: a and b are the only buffers (8000 bytes);
        // counting the view as a buffer gave 12000.
        var g = Graph()
        let x = g.input("x", TensorType(.float32, [1000]))
        let a = try g.apply(Exp(), [x])[0]
        let r = try g.apply(Reshape(shape: [10, 100]), [a])[0]
        let b = try g.apply(Neg(), [r])[0]
        let compiled = try CompiledGraph(g, fetches: [b], device: Device(spec: .test), store: ParameterStore(), planner: planner())
        #expect(compiled.memory.peakBytes == 8000)
        // A BatchNorm's saved statistics outlive its normalised output: y [4, 8, 10, 10] dies at
        // the ReLU, the statistics (2 vectors of 8) live to the fetch. Keeping the node whole
        // held y too: 3 × 12800 + 64 at the first Neg instead of 2 × 12800 + 64.
        var h = Graph()
        let input = h.input("x", TensorType(.float32, [4, 8, 10, 10]))
        let gamma = h.constant(try Tensor(shape: [8], values: [Float](repeating: 1, count: 8)))
        let beta = h.constant(try Tensor(shape: [8], values: [Float](repeating: 0, count: 8)))
        let zeros = h.constant(try Tensor(shape: [8], values: [Float](repeating: 0, count: 8)))
        let bn = try h.apply(BatchNorm(isTraining: true), [input, gamma, beta, zeros, gamma])
        let y1 = try h.apply(ReLU(), [bn[0]])[0]
        let y2 = try h.apply(Neg(), [y1])[0]
        let y3 = try h.apply(Neg(), [y2])[0]
        let plan = try CompiledGraph(h, fetches: [y3] + Array(bn.dropFirst()), device: Device(spec: .test), store: ParameterStore(), planner: planner())
        let stats = Int64(bn.dropFirst().count * 8 * 4)
        #expect(plan.memory.peakBytes == 2 * 12800 + stats)
    }

    @Test func inputsAreCopiedOnTheCopyStreamBeforeCompute() throws {
        var g = Graph()
        let x = g.input("x", TensorType(.float32, [1000]))
        let y = try g.apply(Exp(), [x])[0]
        let device = Device(spec: .test)
        let compiled = try CompiledGraph(g, fetches: [y], device: device, store: ParameterStore(), planner: planner())
        _ = try compiled.step(["x": Tensor(zeros: [1000])])
        device.synchronize()
        let copy = try #require(device.timeline.first { $0.type == "MemcpyH2D" })
        let exp = try #require(device.timeline.first { $0.type == "Exp" })
        let back = try #require(device.timeline.first { $0.type == "MemcpyD2H" })
        #expect(copy.streamName == "copy" && exp.streamName == "compute" && back.streamName == "copy")
        #expect(exp.start == copy.end)
        #expect(back.start == exp.end)  // the result is read back after the kernel that made it
        #expect(back.name == "Exp")
    }

    /// Steps reuse the graph's two events: a long run makes no new events.
    @Test func stepsMakeNoNewEvents() throws {
        var g = Graph()
        let x = g.input("x", TensorType(.float32, [4]))
        let y = try g.apply(Exp(), [x])[0]
        let device = Device(spec: .test)
        let compiled = try CompiledGraph(g, fetches: [y], device: device, store: ParameterStore(), planner: planner())
        let events = device.eventCount
        for _ in 0..<10 { _ = try compiled.step(["x": Tensor(zeros: [4])]) }
        #expect(device.eventCount == events)
        device.synchronize()
        #expect(device.recordEnds.count <= 2)
    }

    @Test func stepAndCompileErrorsNameWhatIsWrong() throws {
        var g = Graph()
        let x = g.input("x", TensorType(.float32, [2]))
        let w = g.parameter("w", TensorType(.float32, [2]))
        let y = try g.apply(Mul(), [x, w])[0]
        #expect(throws: GraphError("w: parameter 'w' is not in the parameter store")) {
            _ = try CompiledGraph(g, fetches: [y], device: Device(spec: .test), store: ParameterStore(), planner: planner())
        }
        let store = ParameterStore()
        store["w"] = Tensor(zeros: [2])
        let compiled = try CompiledGraph(g, fetches: [y], device: Device(spec: .test), store: store, planner: planner())
        #expect(throws: GraphError("no feed for input 'x'; the step's inputs are 'x'")) { try compiled.step([:]) }
        #expect(throws: GraphError("input 'x' is float32[3], the graph expects float32[2]")) { try compiled.step(["x": Tensor(zeros: [3])]) }
        #expect(throws: GraphError("assign to 'v': no parameter of type float32[2] with that name")) { try g.assign("v", y) }
    }

    @Test func assignmentsUpdateTheStoreAfterTheStep() throws {
        var g = Graph()
        let w = g.parameter("w", TensorType(.float32, [2]))
        let next = try g.apply(Add(), [w, g.constant(Tensor(scalar: Float(1)))])[0]
        try g.assign("w", next)
        let store = ParameterStore()
        store["w"] = try Tensor(shape: [2], values: [Float(0), 10])
        let compiled = try CompiledGraph(g, fetches: [w], device: Device(spec: .test), store: store, planner: planner())
        #expect(floats(try compiled.step([:])[0]) == [0, 10])  // the value read during the step
        #expect(floats(store["w"]!) == [1, 11])
        _ = try compiled.step([:])
        #expect(floats(store["w"]!) == [2, 12])
    }

    @Test func tapeGradientsEqualGraphGradients() throws {
        let ctx = PyNative(device: Device(spec: .test), determinism: .on)
        let tape = Tape(context: ctx)
        let xv = sampleTensor([4, 3]), wv = sampleTensor([2, 3], seed: 2)
        let x = tape.watch(xv), w = tape.watch(wv)
        let y = try tape.run(MatMul(transposeB: true), [x, w])[0]
        let loss = try tape.run(ReduceSum(), [try tape.run(Tanh(), [y])[0]])[0]
        let eager = try tape.gradients(of: loss, wrt: [w])[0]!
        var g = Graph()
        let gx = g.input("x", xv.type), gw = g.parameter("w", wv.type)
        let gl = try g.apply(ReduceSum(), [try g.apply(Tanh(), [try g.apply(MatMul(transposeB: true), [gx, gw])[0]])[0]])[0]
        let dw = try g.gradients(of: gl, wrt: [gw])[0]!
        let store = ParameterStore()
        store["w"] = wv
        let compiled = try CompiledGraph(g, fetches: [dw], device: Device(spec: .test), store: store, planner: planner())
        #expect(try compiled.step(["x": xv])[0] == eager)
    }

    /// One step of tanh(x·w(ᵀ)) summed, recorded on `tape`; `collide` first runs an untracked
    /// MatMul in scope `Gradients/MatMul`, taking the name the gradient's first MatMul would get.
    func recordedStep(_ tape: Tape, _ x: Tensor, _ w: Tensor, transposeB: Bool, scale: Float, collide: Bool = false) throws -> [Tensor?] {
        tape.reset()
        tape.context.beginStep(0)
        let xv = tape.watch(x), wv = tape.watch(w)
        let y = try tape.run(MatMul(transposeB: transposeB), [xv, wv])[0]
        let loss = try tape.run(ReduceSum(), [try tape.run(Tanh(), [y])[0]])[0]
        if collide {
            tape.context.namer.push("Gradients/MatMul")
            try tape.context.run(MatMul(), [x, w])
            tape.context.namer.pop()
        }
        return try tape.gradients(of: loss, wrt: [wv, xv], lossScale: scale)
    }

    @Test func aRepeatedRecordingRunsItsGradientProgramAgainAsAFreshBuildWould() throws {
        let x = sampleTensor([3, 3]), w = sampleTensor([3, 3], seed: 2), x4 = sampleTensor([4, 3], seed: 5)
        let tape = Tape(context: PyNative(device: Device(spec: .test), determinism: .on))
        var reuses = 0
        // (transposeB, loss scale, input, collide, reused): a new op parameter, shape or namer
        // state builds the program anew; a new loss scale does not.
        let steps: [(Bool, Float, Tensor, Bool, Bool)] = [
            (true, 1, x, false, false), (true, 1, x, false, true), (true, 8, x, false, true), (false, 8, x, false, false),
            (false, 8, x, false, true), (false, 8, x4, false, false), (false, 8, x4, true, false), (false, 8, x4, false, false),
        ]
        for (transposeB, scale, input, collide, reused) in steps {
            let before = tape.context.device.timeline.count
            let got = try recordedStep(tape, input, w, transposeB: transposeB, scale: scale, collide: collide)
            let freshContext = PyNative(device: Device(spec: .test), determinism: .on)
            let fresh = try recordedStep(Tape(context: freshContext), input, w, transposeB: transposeB, scale: scale, collide: collide)
            #expect(got.count == 2 && got == fresh)
            if reused { reuses += 1 }
            #expect(tape.gradientProgramReuses == reuses)
            // The same kernels, with the same names, reached the card.
            tape.context.device.synchronize()
            freshContext.device.synchronize()
            #expect(tape.context.device.timeline[before...].map(\.name) == freshContext.device.timeline.map(\.name))
        }
    }
}
