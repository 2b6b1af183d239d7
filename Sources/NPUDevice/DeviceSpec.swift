/// Every hardware number of a simulated card. Ops declare work; the cost model turns work into
/// time with these figures. No other file holds a hardware number.
///
/// Units are SI throughout: FLOP/s, bytes, bytes/s; times are `SimTime`. Built-in profiles and
/// the public source of each figure are listed in `Docs/DeviceModel.md`.
public struct DeviceSpec: Hashable, Sendable {
    /// Profile name (`ascend910`).
    public var name: String
    /// One line saying what the profile models.
    public var summary: String
    /// AI cores that take part in a kernel (and in a split reduction).
    public var aiCores: Int
    /// Peak of the cube (matrix) units over all cores, FLOP/s per precision. A precision the cube
    /// cannot compute in is absent.
    public var cubePeak: [Precision: Double]
    /// Peak of the vector units over all cores, FLOP/s per precision.
    public var vectorPeak: [Precision: Double]
    /// HBM capacity in bytes.
    public var hbmBytes: Int64
    /// HBM bandwidth in bytes/s.
    public var hbmBandwidth: Double
    /// Fixed device-side cost of every kernel launch.
    public var launchOverhead: SimTime
    /// Latency of one host↔device copy.
    public var hostLatency: SimTime
    /// Host↔device bandwidth in bytes/s (PCIe).
    public var hostBandwidth: Double
    /// Latency of one inter-card transfer.
    public var linkLatency: SimTime
    /// Inter-card bandwidth in bytes/s, per card and direction.
    public var linkBandwidth: Double
    /// The fewest reduced elements one AI core takes as a block when a reduction is split across
    /// cores (a split reduction has min(aiCores, ⌈extent / reductionBlockMin⌉) blocks).
    public var reductionBlockMin: Int
    /// Output elements one AI core adds atomically as a unit (the granularity at which cores race:
    /// under `off` every tile of a launch's output gets its own block order).
    public var reductionTile: Int
    /// Side of the square output tile the cube computes (16 on Da Vinci cores: 16×16 fractals); a
    /// MatMul with fewer output tiles than AI cores splits K to keep the cores busy.
    public var cubeTile: Int
    /// The host's side of time (Docs/DeviceModel.md, "Host time").
    public var host: HostCosts
    /// Cards on one server board, joined by the on-board links (`linkLatency`, `linkBandwidth`:
    /// HCCS on Ascend boards); cards on different servers talk over RoCE.
    public var cardsPerServer: Int
    /// What joins the cards of one server: HCCS (`.onBoard`, the link figures) or, on servers of
    /// PCIe cards, the PCIe switch (`.pcie`, the host-link figures).
    public var boardLink: LinkType = .onBoard
    /// Latency and bandwidth (bytes/s per card and direction) of the links between servers (RoCE).
    public var interServerLatency: SimTime
    public var interServerBandwidth: Double
    /// The fraction of `hbmBandwidth` a streaming kernel sustains (Docs/DeviceModel.md,
    /// "Efficiency"); 1 on the round-number `test` profile.
    public var hbmEfficiency: Double = 1
    /// Graph mode on this card fuses kernels as Ascend's compiler does (BatchNorm split, buffer
    /// fusion; Docs/DeviceModel.md, "Fusion"): true on the Ascend profiles, false on `test`.
    public var ubFusion: Bool = false
    /// The fraction of the cube's peak a large, well-shaped product sustains (a measured figure;
    /// Docs/DeviceModel.md, "Efficiency"); 1 on `test`.
    public var cubeEfficiency: Double = 1
    /// The fraction of the vector units' peak a compute-bound vector kernel sustains (measured);
    /// 1 on `test`.
    public var vectorEfficiency: Double = 1
    /// The data paths around one AI core's cube (nil: not modelled, a product runs at the cube's
    /// rate alone).
    public var cubePaths: CubePaths?

    public init(
        name: String, summary: String, aiCores: Int,
        cubePeak: [Precision: Double], vectorPeak: [Precision: Double],
        hbmBytes: Int64, hbmBandwidth: Double, launchOverhead: SimTime,
        hostLatency: SimTime, hostBandwidth: Double, linkLatency: SimTime, linkBandwidth: Double,
        reductionBlockMin: Int, reductionTile: Int = 256, cubeTile: Int = 16, host: HostCosts = .ascend,
        cardsPerServer: Int = 8, interServerLatency: SimTime = .microseconds(10), interServerBandwidth: Double = 12.5e9,
        hbmEfficiency: Double = 1, ubFusion: Bool = false,
        cubeEfficiency: Double = 1, vectorEfficiency: Double = 1, cubePaths: CubePaths? = nil
    ) {
        self.cubeEfficiency = cubeEfficiency
        self.vectorEfficiency = vectorEfficiency
        self.cubePaths = cubePaths
        self.hbmEfficiency = hbmEfficiency
        self.ubFusion = ubFusion
        self.host = host
        self.cardsPerServer = cardsPerServer
        self.interServerLatency = interServerLatency
        self.interServerBandwidth = interServerBandwidth
        self.name = name
        self.summary = summary
        self.aiCores = aiCores
        self.cubePeak = cubePeak
        self.vectorPeak = vectorPeak
        self.hbmBytes = hbmBytes
        self.hbmBandwidth = hbmBandwidth
        self.launchOverhead = launchOverhead
        self.hostLatency = hostLatency
        self.hostBandwidth = hostBandwidth
        self.linkLatency = linkLatency
        self.linkBandwidth = linkBandwidth
        self.reductionBlockMin = reductionBlockMin
        self.reductionTile = reductionTile
        self.cubeTile = cubeTile
    }

    /// Peak FLOP/s of `unit` in `precision`, or nil when that unit has no such mode.
    public func peak(_ unit: ComputeUnit, _ precision: Precision) -> Double? {
        (unit == .cube ? cubePeak : vectorPeak)[precision]
    }

    /// Blocks a reduction of `extent` elements splits into: min(aiCores, ⌈extent / reductionBlockMin⌉),
    /// at least 1.
    public func reductionBlocks(extent: Int) -> Int {
        max(1, min(aiCores, (max(extent, 0) + reductionBlockMin - 1) / reductionBlockMin))
    }

    /// The cube's work for `tiling` relative to the product's own: rows, columns and depth each
    /// rounded up to whole `cubeTile` fractals (1 for other tilings or an unknown depth).
    public func fractalPadding(_ tiling: Tiling?) -> Double {
        guard case .matrix(_, let rows, let columns, _, let depth)? = tiling, rows > 0, columns > 0, depth > 0 else { return 1 }
        func padded(_ n: Int) -> Double { Double((n + cubeTile - 1) / cubeTile * cubeTile) / Double(n) }
        return padded(rows) * padded(columns) * padded(depth)
    }

    /// How much longer than its cube time a product takes on one AI core's pipeline (at least 1;
    /// 1 without `cubePaths`). A core computes its share of the output block by block — the
    /// largest square of whole fractals that L0C holds twice in float32, so one block drains
    /// while the next is computed — and each block is paced by the slowest of: the cube (at
    /// `cubeEfficiency`), feeding its operands from L1 into L0A and L0B, and draining its result
    /// from L0C; the last block's drain overlaps nothing. Short products (a small K) and thin
    /// blocks (a small M or N) are the ones that stall.
    public func cubePipelineStall(_ tiling: Tiling?, operandBytes: Double = 2) -> Double {
        guard let p = cubePaths, case .matrix(let batch, let rows, let columns, let splitK, let depth)? = tiling,
              batch > 0, rows > 0, columns > 0, depth > 0 else { return 1 }
        let t = Double(cubeTile)
        func pad(_ n: Double) -> Double { (n / t).rounded(.up) * t }
        let side = max(t, ((Double(p.l0cBytes) / 8).squareRoot() / t).rounded(.down) * t)
        let m0 = min(pad(Double(rows)), side), n0 = min(pad(Double(columns)), side)
        // K is split across cores only as far as the output tiles leave cores idle.
        let tiles = Double(batch) * pad(Double(rows)) * pad(Double(columns)) / (t * t)
        let kBlocks = splitK > 1 ? min(Double(reductionBlocks(extent: splitK)), max(1, (Double(aiCores) / tiles).rounded(.up))) : 1
        let k = pad((Double(depth) / kBlocks).rounded(.up))
        let cube = m0 * n0 * k / (t * t * t * cubeEfficiency)
        let feed = k * operandBytes * (m0 / p.l1ToL0a + n0 / p.l1ToL0b)
        let drain = m0 * n0 * 4 / p.l0cToUb
        let outputBlocks = Double(batch) * pad(Double(rows)) * pad(Double(columns)) * kBlocks / (m0 * n0)
        let blocks = max(1, outputBlocks / Double(usableCores(tiling)))
        return (blocks * max(cube, feed, drain) + drain) / (blocks * cube)
    }

    /// The AI cores a kernel with this tiling keeps busy (all of them when the tiling is unknown).
    public func usableCores(_ tiling: Tiling?) -> Int {
        switch tiling {
        case nil: return aiCores
        case .elements(let n): return reductionBlocks(extent: n)
        case .matrix(let batch, let rows, let columns, let splitK, _):
            let tiles = max(batch, 0) * ((rows + cubeTile - 1) / cubeTile) * ((columns + cubeTile - 1) / cubeTile)
            let blocks = splitK > 1 ? reductionBlocks(extent: splitK) : 1
            return max(1, min(aiCores, tiles.multipliedReportingOverflow(by: blocks).overflow ? aiCores : tiles * blocks))
        }
    }
}

/// The data paths around one AI core's cube, in bytes per cycle of the core's clock, and its
/// output buffer: what bounds how fast the cube can be fed and drained. The names are those of
/// CANN's platform configuration (`[AICoreMemoryRates]`, `[AICoreSpec]`).
public struct CubePaths: Hashable, Sendable {
    /// L1 → L0A (the left operand), bytes per cycle (`l1_to_l0_a_rate`).
    public var l1ToL0a: Double
    /// L1 → L0B (the right operand), bytes per cycle (`l1_to_l0_b_rate`).
    public var l1ToL0b: Double
    /// L0C → the unified buffer (the result), bytes per cycle (`l0_c_to_ub_rate`).
    public var l0cToUb: Double
    /// L0C's size, bytes (`l0_c_size`).
    public var l0cBytes: Int

    public init(l1ToL0a: Double, l1ToL0b: Double, l0cToUb: Double, l0cBytes: Int) {
        self.l1ToL0a = l1ToL0a
        self.l1ToL0b = l1ToL0b
        self.l0cToUb = l0cToUb
        self.l0cBytes = l0cBytes
    }

    /// The Da Vinci core of the Ascend 910 (Docs/DeviceModel.md, "Efficiency", gives the sources).
    public static let davinci910 = CubePaths(l1ToL0a: 512, l1ToL0b: 256, l0cToUb: 256, l0cBytes: 256 << 10)
}

/// What the host spends, in simulated time, to drive the card: it moves the host's clock, and a
/// task cannot start before the host time at which it was submitted.
public struct HostCosts: Hashable, Sendable {
    /// Dispatching one op in PyNative mode (type inference, kernel selection, the launch call).
    public var dispatch: SimTime
    /// Launching one step of a compiled graph (one RunGraph call, non-sink).
    public var graphLaunch: SimTime
    /// Launching one sink: the compiled step runs sink-size times from the device data queue.
    public var sinkLaunch: SimTime
    /// A synchronisation round trip: after the card is idle, the host learns it this much later.
    public var syncRoundTrip: SimTime
    /// One host callback (LossMonitor printing a loss line).
    public var callback: SimTime

    public init(dispatch: SimTime, graphLaunch: SimTime, sinkLaunch: SimTime, syncRoundTrip: SimTime, callback: SimTime) {
        self.dispatch = dispatch
        self.graphLaunch = graphLaunch
        self.sinkLaunch = sinkLaunch
        self.syncRoundTrip = syncRoundTrip
        self.callback = callback
    }

    /// The Ascend profiles' host (estimates; Docs/DeviceModel.md gives the reasoning).
    public static let ascend = HostCosts(dispatch: .microseconds(20), graphLaunch: .microseconds(60), sinkLaunch: .microseconds(80),
                                         syncRoundTrip: .microseconds(15), callback: .microseconds(5))
    /// No host cost at all (hand-computed device timelines).
    public static let none = HostCosts(dispatch: .zero, graphLaunch: .zero, sinkLaunch: .zero, syncRoundTrip: .zero, callback: .zero)
}

/// How a kernel's work divides among AI cores, as its tiling gives it.
public enum Tiling: Hashable, Sendable {
    /// `n` output elements (elementwise and row-wise kernels): a core takes at least
    /// `reduction_block_min` of them.
    case elements(Int)
    /// A cube product with `batch` · ⌈rows / cube_tile⌉ · ⌈columns / cube_tile⌉ output tiles; `splitK`
    /// is the reduced extent when the kernel may split it across cores (0 or 1: it does not);
    /// `depth` is the reduced extent of each product (0: unknown), which the cube pads to whole
    /// fractals as it does rows and columns.
    case matrix(batch: Int, rows: Int, columns: Int, splitK: Int, depth: Int = 0)
}

private let giB: Int64 = 1 << 30

extension DeviceSpec {
    /// Huawei Ascend 910 (2019): 32 Da Vinci cores, 256 TFLOPS fp16, 32 GiB HBM2 at 1.2 TB/s.
    public static let ascend910 = DeviceSpec(
        name: "ascend910",
        summary: "Ascend 910 (Da Vinci, 32 AI cores, HBM2)",
        aiCores: 32,
        // The 910 cube computes fp16/int8; CANN's default precision mode runs fp32 MatMul on the
        // cube in fp16, so fp32 cube work costs the fp16 rate.
        cubePeak: [.float16: 256e12, .float32: 256e12, .int8: 512e12],
        vectorPeak: [.float16: 8.192e12, .float32: 4.096e12],
        hbmBytes: 32 * giB,
        hbmBandwidth: 1.2e12,
        launchOverhead: .microseconds(3),
        hostLatency: .microseconds(10),
        hostBandwidth: 32e9,
        linkLatency: .microseconds(5),
        linkBandwidth: 90e9,
        reductionBlockMin: 8,
        // HBM2 sustains about 83 % of its peak in streaming kernels (Docs/DeviceModel.md).
        hbmEfficiency: 0.83,
        ubFusion: true,
        // Measured on an Ascend 910 (AIBench, 2024): 216 of 256 TFLOP/s from the cube, 3.39 of
        // 8.192 TFLOP/s from the vector units.
        cubeEfficiency: 216.0 / 256, vectorEfficiency: 3.39 / 8.192, cubePaths: .davinci910
    )

    /// Huawei Ascend 910B (910B3 figures): 20 AI cores, 313 TFLOPS fp16, 64 GiB HBM2e at 1.6 TB/s.
    public static let ascend910b = DeviceSpec(
        name: "ascend910b",
        summary: "Ascend 910B3 (20 AI cores, HBM2e, HCCS)",
        aiCores: 20,
        cubePeak: [.float16: 313e12, .bfloat16: 313e12, .float32: 78e12, .int8: 626e12],
        vectorPeak: [.float16: 20.5e12, .bfloat16: 20.5e12, .float32: 10.2e12],
        hbmBytes: 64 * giB,
        hbmBandwidth: 1.6e12,
        launchOverhead: .microseconds(2),
        hostLatency: .microseconds(8),
        hostBandwidth: 64e9,
        linkLatency: .microseconds(3),
        linkBandwidth: 392e9,
        reductionBlockMin: 8,
        hbmEfficiency: 0.83,
        ubFusion: true
    )

    /// Round numbers for tests: 1 TFLOP/s cube = 1000 FLOP/ns, 100 GB/s HBM = 100 bytes/ns.
    public static let test = DeviceSpec(
        name: "test",
        summary: "round numbers for tests (not a real card)",
        aiCores: 4,
        cubePeak: [.float16: 2e12, .float32: 1e12],
        vectorPeak: [.float16: 0.2e12, .float32: 0.1e12],
        hbmBytes: 1_000_000_000,
        hbmBandwidth: 100e9,
        launchOverhead: .microseconds(1),
        hostLatency: .microseconds(10),
        hostBandwidth: 10e9,
        linkLatency: .microseconds(5),
        linkBandwidth: 10e9,
        reductionBlockMin: 4,
        reductionTile: 16,
        cubeTile: 16,
        host: .none
    )

    /// Every built-in profile, in the order `npusim devices` lists them.
    public static let builtIn: [DeviceSpec] = [.ascend910, .ascend910b, .test]

    /// The built-in profile called `name`, or nil.
    public static func builtIn(named name: String) -> DeviceSpec? {
        builtIn.first { $0.name == name }
    }
}
