import Foundation
import NPUKernels
import NPUTensor

/// Which fan He initializers scale by.
public enum FanMode: String, Sendable {
    case fanIn = "fan_in"
    case fanOut = "fan_out"
}

/// The nonlinearity whose gain He initializers use (MindSpore's `_calculate_gain`).
public enum Nonlinearity: String, Sendable {
    case linear, conv1d, conv2d, conv3d, sigmoid, tanh, relu, selu
    case leakyRelu = "leaky_relu"

    func gain(_ negativeSlope: Double) -> Double {
        switch self {
        case .linear, .conv1d, .conv2d, .conv3d, .sigmoid: 1
        case .tanh: 5.0 / 3
        case .relu: 2.0.squareRoot()
        case .selu: 3.0 / 4
        case .leakyRelu: (2.0 / (1 + negativeSlope * negativeSlope)).squareRoot()
        }
    }
}

/// MindSpore's parameter initializers (`mindspore.common.initializer`), with its defaults.
/// Random ones draw one seed per parameter from numpy's global generator
/// (`randint(1, 2**63)`), then fill from a Philox stream in double, stored as float32.
public enum Initializer: Hashable, Sendable {
    case normal(sigma: Double = 0.01, mean: Double = 0)
    case uniform(scale: Double = 0.07)
    case xavierUniform(gain: Double = 1)
    case xavierNormal(gain: Double = 1)
    case heUniform(negativeSlope: Double = 0, mode: FanMode = .fanIn, nonlinearity: Nonlinearity = .leakyRelu)
    case heNormal(negativeSlope: Double = 0, mode: FanMode = .fanIn, nonlinearity: Nonlinearity = .leakyRelu)
    case truncatedNormal(sigma: Double = 0.01, mean: Double = 0, a: Double = -2, b: Double = 2)
    case zero
    case one
    case constant(Double)

    /// The names `initializer(name, shape)` accepts, as MindSpore spells them.
    public static let names = ["normal", "uniform", "xavier_uniform", "xavier_normal", "he_uniform", "he_normal",
                               "truncatednormal", "zeros", "ones"]

    /// The initializer MindSpore's string alias names, with default parameters.
    /// - Throws: `RandomError.invalidArgument` listing the valid names.
    public init(name: String) throws(RandomError) {
        switch name.lowercased() {
        case "normal": self = .normal()
        case "uniform": self = .uniform()
        case "xavier_uniform", "xavieruniform": self = .xavierUniform()
        case "xavier_normal", "xaviernormal": self = .xavierNormal()
        case "he_uniform", "heuniform": self = .heUniform()
        case "he_normal", "henormal": self = .heNormal()
        case "truncatednormal", "truncated_normal": self = .truncatedNormal()
        case "zeros", "zero": self = .zero
        case "ones", "one": self = .one
        default:
            throw .invalidArgument(call: "initializer", message: "unknown initializer '\(name)'; valid names are \(Self.names.joined(separator: ", "))")
        }
    }

    /// True if it draws a seed from numpy's global generator.
    public var isRandom: Bool {
        switch self {
        case .zero, .one, .constant: false
        default: true
        }
    }

    /// (fan_in, fan_out) of a weight shape, as `_calculate_fan_in_and_fan_out`.
    public static func fans(_ shape: Shape) throws(RandomError) -> (fanIn: Int, fanOut: Int) {
        guard shape.rank >= 2 else {
            throw .invalidArgument(call: "initializer", message: "'fan_in' and 'fan_out' can not be computed for a tensor with fewer than 2 dimensions, got shape \(shape)")
        }
        let receptive = shape.dims.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// A float32 parameter of `shape`, drawing its seed from `state` if the initializer is random.
    public func make(_ shape: Shape, state: SeedState) throws(RandomError) -> Tensor {
        try make(shape, seed: isRandom ? state.initializerSeed() : 0)
    }

    /// A float32 parameter of `shape` from an explicit numpy-drawn seed (ignored if not random).
    public func make(_ shape: Shape, seed: UInt64) throws(RandomError) -> Tensor {
        var t = Tensor(zeros: shape, dtype: .float32)
        var g = npu_philox()
        npu_philox_init(&g, seed, seed)
        func uniform(_ bound: Double) {
            let a = Double(Float(-bound)), b = Double(Float(bound))
            t.withUnsafeMutableBytes { npu_init_uniform_f32($0.baseAddress!.assumingMemoryBound(to: Float.self), &g, a, b, shape.count) }
        }
        func normal(_ mean: Double, _ sigma: Double) {
            let m = Double(Float(mean)), s = Double(Float(sigma))
            t.withUnsafeMutableBytes { npu_init_normal_f32($0.baseAddress!.assumingMemoryBound(to: Float.self), &g, m, s, shape.count) }
        }
        switch self {
        case let .normal(sigma, mean): normal(mean, sigma)
        case let .uniform(scale): uniform(scale)
        case let .xavierUniform(gain):
            let (fanIn, fanOut) = try Self.fans(shape)
            uniform(gain * (6.0 / Double(fanIn + fanOut)).squareRoot())
        case let .xavierNormal(gain):
            let (fanIn, fanOut) = try Self.fans(shape)
            normal(0, gain * (2.0 / Double(fanIn + fanOut)).squareRoot())
        case let .heUniform(slope, mode, nonlinearity):
            let std = nonlinearity.gain(slope) / Double(try Self.fan(shape, mode)).squareRoot()
            uniform(3.0.squareRoot() * std)
        case let .heNormal(slope, mode, nonlinearity):
            normal(0, nonlinearity.gain(slope) / Double(try Self.fan(shape, mode)).squareRoot())
        case let .truncatedNormal(sigma, mean, a, b):
            var stream = PhiloxStream(seed: seed)
            let values = truncatedNormalValues(&stream, count: shape.count, a: Float(a), b: Float(b), mean: Float(mean), sigma: Float(sigma))
            t = try! Tensor(shape: shape, values: values)
        case .zero: break
        case .one: t = try! Tensor(shape: shape, values: [Float](repeating: 1, count: shape.count))
        case let .constant(v): t = try! Tensor(shape: shape, values: [Float](repeating: Float(v), count: shape.count))
        }
        return t
    }

    static func fan(_ shape: Shape, _ mode: FanMode) throws(RandomError) -> Int {
        let (fanIn, fanOut) = try fans(shape)
        return mode == .fanIn ? fanIn : fanOut
    }

    /// `nn.Dense(in, out)` defaults: weight [out, in] HeUniform(√5) (bound 1/√in), bias [out]
    /// Uniform(1/√in); created weight first.
    public static func denseDefaults(inChannels: Int) -> (weight: Initializer, bias: Initializer) {
        (.heUniform(negativeSlope: 5.0.squareRoot()), .uniform(scale: 1 / Double(inChannels).squareRoot()))
    }

    /// `nn.Conv2d` defaults: weight [out, in/groups, kh, kw] HeUniform(√5), bias Uniform(1/√fan_in).
    public static func conv2dDefaults(weightShape: Shape) throws(RandomError) -> (weight: Initializer, bias: Initializer) {
        let (fanIn, _) = try fans(weightShape)
        return (.heUniform(negativeSlope: 5.0.squareRoot()), .uniform(scale: 1 / Double(fanIn).squareRoot()))
    }
}
