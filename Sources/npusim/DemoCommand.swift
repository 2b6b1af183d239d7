import ArgumentParser
import Foundation
import NPUSim

/// Shows the simulated card at work: real arithmetic on the host, simulated time from the cost
/// model, three streams ordered by events.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "A MatMul and a reduction on a simulated card with its timeline, then a training example."
    )

    @Option(name: .long, help: "Device profile: a built-in name or a profile YAML file.")
    var device = "ascend910"

    @Option(name: .long, help: "Matrix size n of the n×n×n MatMul.")
    var size = 512

    @Flag(name: .long, help: "Show only the card timeline, without the training example.")
    var noTraining = false

    func run() throws {
        guard (1...4096).contains(size) else {
            throw CLIError(message: "--size must be between 1 and 4096, got \(size)")
        }
        let spec = try DeviceSpec.resolve(device)
        let card = Device(spec: spec)
        let compute = card.defaultStream
        let aux = card.makeStream(name: "aux")
        let copy = card.makeStream(name: "copy")
        let n = size
        let bytes = Double(n * n * 4)

        // Real values: C = A·B with OpenBLAS, then a row-sum reduction of C.
        let a = (0..<n * n).map { Float(sin(Double($0) * 0.001)) }
        let b = (0..<n * n).map { Float(cos(Double($0) * 0.002)) }
        var c = [Float](repeating: 0, count: n * n)
        BLAS.sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n)
        var rowSums = [Float](repeating: 0, count: n)
        for i in 0..<n { for j in 0..<n { rowSums[i] += c[i * n + j] } }
        let total = rowSums.reduce(0, +)
        var reference = 0.0  // the same total from A and B in double precision
        for k in 0..<n {
            var colA = 0.0, rowB = 0.0
            for i in 0..<n { colA += Double(a[i * n + k]) }
            for j in 0..<n { rowB += Double(b[k * n + j]) }
            reference += colA * rowB
        }

        // The same work on the simulated card.
        let flops = 2 * Double(n) * Double(n) * Double(n)
        copy.copy("A", bytes: bytes, direction: .hostToDevice)
        copy.copy("B", bytes: bytes, direction: .hostToDevice)
        let inputsReady = copy.record()
        aux.launch("scale_x", type: "Mul", work: Work(flops: Double(n * n), bytes: 2 * bytes, unit: .vector))
        compute.wait(inputsReady)
        compute.launch("C = A·B", type: "MatMul", work: Work(flops: flops, bytes: 3 * bytes, unit: .cube, precision: .float16))
        let product = compute.record()
        aux.wait(product)
        aux.launch("row_sums", type: "ReduceSum", work: Work(flops: Double(n * n), bytes: bytes + Double(n * 4), unit: .vector))
        let reduced = aux.record()
        copy.wait(reduced)
        copy.copy("row_sums", bytes: Double(n * 4), direction: .deviceToHost)
        let end = card.synchronize()

        emit("NPUSim demo on \(spec.name) (\(spec.summary)); OpenBLAS kernels: \(BLAS.coreName)")
        emit("C = A·B with n = \(n), then the row sums of C. Values are computed for real on the host;")
        emit("times are simulated by the card's cost model. Streams: compute, aux, copy.\n")
        emit(timelineTable(card.timeline))
        emit("\nsimulated device time: \(end)")
        let matmul = card.timeline.first { $0.type == "MatMul" }!
        let scale = card.timeline.first { $0.name == "scale_x" }!
        emit("scale_x (vector) ran \(scale.start)–\(scale.end) beside the copies; the MatMul (cube) waited for the copies' event until \(matmul.start).")
        emit(String(format: "sum of C: %.6g on the card (float32), %.6g in double precision (relative difference %.2e)",
                    Double(total), reference, abs(Double(total) - reference) / max(abs(reference), 1e-30)))
        if !noTraining {
            emit("\n" + String(repeating: "-", count: 100) + "\n")
            try trainingDemo(spec: spec)
        }
    }
}

/// A fixed-width table of scheduled tasks (times in µs).
func timelineTable(_ records: [TaskRecord]) -> String {
    func pad(_ s: String, _ w: Int) -> String { s.padding(toLength: w, withPad: " ", startingAt: 0) }
    func lpad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
    func us(_ t: SimTime) -> String { String(format: "%.3f", t.microseconds) }
    var lines = [pad("stream", 9) + pad("task", 16) + pad("type", 13) + pad("engine", 8) + lpad("start µs", 11) + lpad("end µs", 11) + lpad("dur µs", 10)]
    for r in records {
        lines.append(pad(r.streamName, 9) + pad(r.name, 16) + pad(r.type, 13) + pad(r.engine?.rawValue ?? "-", 8)
            + lpad(us(r.start), 11) + lpad(us(r.end), 11) + lpad(us(r.duration), 10))
    }
    return lines.joined(separator: "\n")
}
