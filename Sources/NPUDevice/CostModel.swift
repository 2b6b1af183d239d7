/// The work one kernel does, as the op declares it: the cost model turns it into time.
public struct Work: Hashable, Sendable {
    /// Floating-point operations (a multiply-add counts two).
    public var flops: Double
    /// Bytes read from and written to HBM.
    public var bytes: Double
    /// The unit the arithmetic runs on.
    public var unit: ComputeUnit
    /// The precision the arithmetic runs in.
    public var precision: Precision
    /// How the work divides among AI cores (nil: it keeps all of them busy).
    public var tiling: Tiling?
    /// HBM scratch the kernel holds while it runs (its workspace), in bytes.
    public var workspaceBytes: Int64
    /// Vector-unit FLOPs of a fused cube kernel's epilogue (a bias, an activation, a
    /// BatchNorm's sums): they run on the same cores, overlapped with the cube's.
    public var vectorFlops: Double = 0

    public init(flops: Double, bytes: Double, unit: ComputeUnit, precision: Precision = .float32, tiling: Tiling? = nil,
                workspaceBytes: Int64 = 0) {
        self.flops = flops
        self.bytes = bytes
        self.unit = unit
        self.precision = precision
        self.tiling = tiling
        self.workspaceBytes = workspaceBytes
    }
}

/// Direction of a copy task.
public enum CopyDirection: String, Hashable, Sendable {
    case hostToDevice = "H2D"
    case deviceToHost = "D2H"
    case deviceToDevice = "D2D"

    /// The DMA engine a copy in this direction occupies (one per direction: full duplex).
    public var engine: Engine {
        switch self {
        case .hostToDevice: .h2d
        case .deviceToHost: .d2h
        case .deviceToDevice: .d2d
        }
    }
}

/// A card's cost model: a roofline per engine plus fixed overheads. Pure: the same spec and work
/// always give the same time.
public struct CostModel: Hashable, Sendable {
    public var spec: DeviceSpec

    public init(spec: DeviceSpec) { self.spec = spec }

    /// The slower of the arithmetic and the traffic. The arithmetic runs at the sustained
    /// fraction of the peak of the AI cores the tiling keeps busy (`cubeEfficiency`,
    /// `vectorEfficiency`); the cube computes whole fractals, so a product's rows, columns and
    /// depth are padded to the cube tile, and a product whose blocks its core's data paths cannot
    /// feed or drain in time stalls (`cubePipelineStall`). The traffic moves at the sustained HBM
    /// bandwidth (shared by all cores). A precision the unit cannot compute in falls back to
    /// float32 on the vector unit (what a compiler does with an op the cube cannot take).
    /// Docs/DeviceModel.md, "Efficiency", gives the sources.
    public func computeTime(_ work: Work) -> SimTime {
        let cube = work.unit == .cube && spec.peak(.cube, work.precision) != nil
        let peak = (spec.peak(work.unit, work.precision) ?? spec.vectorPeak[.float32]!) * (cube ? spec.cubeEfficiency : spec.vectorEfficiency)
        let busy = Double(spec.usableCores(work.tiling)) / Double(spec.aiCores)
        var flops = work.flops
        if cube {
            flops *= spec.fractalPadding(work.tiling) * spec.cubePipelineStall(work.tiling, operandBytes: work.precision == .int8 ? 1 : 2)
        }
        var seconds = max(flops / (peak * busy), work.bytes / (spec.hbmBandwidth * spec.hbmEfficiency))
        if work.vectorFlops > 0 {
            let vectorPeak = (spec.vectorPeak[work.precision] ?? spec.vectorPeak[.float32]!) * spec.vectorEfficiency
            seconds = max(seconds, work.vectorFlops / (vectorPeak * busy))
        }
        return .seconds(seconds)
    }

    /// A kernel's time on its engine: launch overhead (once per task) plus the roofline time.
    public func kernelTime(_ work: Work) -> SimTime {
        spec.launchOverhead + computeTime(work)
    }

    /// A copy's time on the DMA engine: host copies pay latency plus bytes at host bandwidth;
    /// device copies read and write HBM.
    public func copyTime(bytes: Double, direction: CopyDirection) -> SimTime {
        switch direction {
        case .hostToDevice, .deviceToHost:
            spec.hostLatency + .seconds(bytes / spec.hostBandwidth)
        case .deviceToDevice:
            spec.launchOverhead + .seconds(2 * bytes / spec.hbmBandwidth)
        }
    }

    /// One point-to-point transfer of `bytes` over the inter-card link.
    public func linkTime(bytes: Double, link: LinkType = .onBoard) -> SimTime {
        switch link {
        case .onBoard: spec.linkLatency + .seconds(bytes / spec.linkBandwidth)
        case .interServer: spec.interServerLatency + .seconds(bytes / spec.interServerBandwidth)
        case .pcie: spec.hostLatency + .seconds(bytes / spec.hostBandwidth)
        }
    }
}
