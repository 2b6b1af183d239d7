import NPUKernels
import NPUTensor

/// MindSpore's pad modes for convolution and pooling.
public enum PadMode: Hashable, Sendable {
    /// Output ⌈input / stride⌉, padding split evenly (extra on the bottom/right).
    case same
    /// No padding.
    case valid
    /// Explicit padding (top, bottom, left, right).
    case pad(top: Int, bottom: Int, left: Int, right: Int)
}

/// A 2-D window sweep over an NCHW input.
struct WindowGeometry {
    var window: npu_window

    /// - Throws: `OpError` when the window does not fit the input.
    init(op: String, channels: Int, height: Int, width: Int, kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int),
         pad: PadMode) throws(OpError) {
        guard kernel.0 > 0, kernel.1 > 0, stride.0 > 0, stride.1 > 0, dilation.0 > 0, dilation.1 > 0 else {
            throw OpError(op, "kernel \(kernel), stride \(stride) and dilation \(dilation) must be positive")
        }
        let ek = ((kernel.0 - 1) * dilation.0 + 1, (kernel.1 - 1) * dilation.1 + 1)
        var (pt, pb, pl, pr) = (0, 0, 0, 0)
        var oh = 0, ow = 0
        switch pad {
        case .valid:
            oh = height >= ek.0 ? (height - ek.0) / stride.0 + 1 : 0
            ow = width >= ek.1 ? (width - ek.1) / stride.1 + 1 : 0
        case .same:
            oh = (height + stride.0 - 1) / stride.0
            ow = (width + stride.1 - 1) / stride.1
            let th = max(0, (oh - 1) * stride.0 + ek.0 - height), tw = max(0, (ow - 1) * stride.1 + ek.1 - width)
            (pt, pb, pl, pr) = (th / 2, th - th / 2, tw / 2, tw - tw / 2)
        case let .pad(top, bottom, left, right):
            guard min(top, bottom, left, right) >= 0 else { throw OpError(op, "padding must not be negative, got \(pad)") }
            (pt, pb, pl, pr) = (top, bottom, left, right)
            let h = height + top + bottom, w = width + left + right
            oh = h >= ek.0 ? (h - ek.0) / stride.0 + 1 : 0
            ow = w >= ek.1 ? (w - ek.1) / stride.1 + 1 : 0
        }
        _ = (pb, pr)
        guard oh > 0, ow > 0 else {
            throw OpError(op, "the \(kernel.0)×\(kernel.1) window (dilation \(dilation)) does not fit the \(height)×\(width) input with padding \(pad)")
        }
        window = npu_window(c: Int32(channels), h: Int32(height), w: Int32(width), kh: Int32(kernel.0), kw: Int32(kernel.1),
                            sh: Int32(stride.0), sw: Int32(stride.1), pt: Int32(pt), pl: Int32(pl), dh: Int32(dilation.0),
                            dw: Int32(dilation.1), oh: Int32(oh), ow: Int32(ow))
    }

    var outHeight: Int { Int(window.oh) }
    var outWidth: Int { Int(window.ow) }
    /// Rows of the im2col matrix: C·KH·KW.
    var patch: Int { Int(window.c * window.kh * window.kw) }
}

/// Float pointer helpers for kernels.
extension Tensor {
    func withFloats<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeBytes { try body($0.bindMemory(to: Float.self).baseAddress!) }
    }

    mutating func withMutableFloats<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeMutableBytes { try body($0.bindMemory(to: Float.self).baseAddress!) }
    }
}
