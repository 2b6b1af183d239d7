/// The number format a unit computes in; device peaks are given per format.
public enum Precision: String, CaseIterable, Hashable, Sendable, Codable {
    case float16
    case bfloat16
    case float32
    case int8
}

/// The execution engines of one card. Tasks on different engines overlap; tasks that need the
/// same engine run one after another.
public enum Engine: String, CaseIterable, Hashable, Sendable, Comparable {
    /// The AI cores' matrix units (MatMul, convolution).
    case cube
    /// The AI cores' vector units (elementwise, reductions, norms).
    case vector
    /// The copy engine between host and device memory, and within device memory.
    case dma
    /// The inter-card link (collectives).
    case link

    public static func < (a: Engine, b: Engine) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// The compute unit a kernel's arithmetic runs on.
public enum ComputeUnit: String, Hashable, Sendable {
    case cube
    case vector

    /// The engine a kernel on this unit occupies.
    public var engine: Engine { self == .cube ? .cube : .vector }
}
