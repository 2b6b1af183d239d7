/// The number format a unit computes in; device peaks are given per format.
public enum Precision: String, CaseIterable, Hashable, Sendable, Codable {
    case float16
    case bfloat16
    case float32
    case int8
}

/// The execution engines of one card. Tasks on different engines overlap; tasks that need the
/// same engine run one after another. Copies and link transfers have an engine per direction:
/// PCIe and the inter-card links are full duplex, so an upload overlaps a download.
public enum Engine: String, CaseIterable, Hashable, Sendable, Comparable {
    /// The AI cores' matrix units (MatMul, convolution).
    case cube
    /// The AI cores' vector units (elementwise, reductions, norms).
    case vector
    /// The DMA engine copying host memory to HBM.
    case h2d = "dma-h2d"
    /// The DMA engine copying HBM to host memory.
    case d2h = "dma-d2h"
    /// The DMA engine copying within HBM.
    case d2d = "dma-d2d"
    /// The inter-card link, sending.
    case linkSend = "link-send"
    /// The inter-card link, receiving.
    case linkReceive = "link-recv"

    public static func < (a: Engine, b: Engine) -> Bool { a.slot < b.slot }

    /// The engine's position in `allCases`, for arrays indexed by engine.
    public var slot: Int {
        switch self {
        case .cube: 0
        case .vector: 1
        case .h2d: 2
        case .d2h: 3
        case .d2d: 4
        case .linkSend: 5
        case .linkReceive: 6
        }
    }
}

/// The compute unit a kernel's arithmetic runs on.
public enum ComputeUnit: String, Hashable, Sendable {
    case cube
    case vector

    /// The engine a kernel on this unit occupies.
    public var engine: Engine { self == .cube ? .cube : .vector }
}
