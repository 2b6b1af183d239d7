import Foundation
import Testing
import NPUSim  // only the public API, as a reader of the docs has it

/// Every ```swift block of README.md and Docs/*.md, compiled here verbatim (between the
/// `snippet <file> #<n>` markers) and run; the test below fails when a block in the docs and its
/// copy here differ, or when a block has no copy.
enum DocSnippets {
    static func readme1() throws {
        // snippet README.md #1
        import_NPUSim()

        let card = Device(spec: .ascend910)
        let copy = card.makeStream(name: "copy")
        copy.copy("x", bytes: 4 * 1_048_576, direction: .hostToDevice)
        let ready = copy.record()
        card.defaultStream.wait(ready)
        card.defaultStream.launch("y = x·W", type: "MatMul",
                                  work: Work(flops: 2e9, bytes: 12e6, unit: .cube, precision: .float16))
        print(card.synchronize())            // simulated device time
        let t = try NPY.read(path: "x.npy")  // tensors from numpy files

        // Ops run PyNative-style: real values, simulated time, reductions in a replayable order.
        let ctx = PyNative(device: card, determinism: .off, orderSource: .replay(7))
        let sum = try ctx.run(ReduceSum(), [t])[0]

        // Training in graph mode, MindSpore-shaped.
        let seeds = SeedState(); try seeds.setSeed(1)
        let layers = LayerContext(store: ParameterStore(), seeds: seeds)
        let net = SequentialCell([try Dense(784, 128, name: "fc1", layers), OpLayer.relu(), try Dense(128, 10, name: "fc2", layers)])
        let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(),
                                 optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, layers),
                                 mode: .graph, device: card, store: layers.store, determinism: .on,
                                 inputType: TensorType(.float32, [32, 784]), labelType: TensorType(.int32, [32]))
        // let loss = try step(images, labels)
        // end snippet
        _ = (sum, step)
    }

    /// Training.md's `Model` with a callback of one's own; returns the model and its metrics.
    static func training1() throws -> (Model, [(name: String, value: Double)]) {
        // snippet Docs/Training.md #1
        import_NPUSim()

        /// A callback of one's own: the lowest loss so far, kept in cb_params, and a stop below 2.2.
        final class StopBelow: Callback {
            func onTrainStepEnd(_ run: RunContext) throws {
                let p = run.cbParams
                guard let loss = p.loss else { return }
                p.userValues["best"] = min(loss, p.userValues["best"] as? Float ?? .infinity)
                if loss < 2.2 { run.requestStop() }
            }
        }

        let seeds = SeedState(); try seeds.setSeed(1)
        let ctx = LayerContext(store: ParameterStore(), seeds: seeds)
        let net = SequentialCell([try Dense(784, 128, name: "fc1", ctx), OpLayer.relu(), try Dense(128, 10, name: "fc2", ctx)])
        var context = ModelContext()
        context.determinism = .on
        let model = try Model(network: net, loss: SoftmaxCrossEntropyLoss(),
                              optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx),
                              store: ctx.store, metrics: [.accuracy, .loss], context: context)
        var data = try Dataset(source: try SyntheticSource(count: 320, shape: [784], classes: 10, seed: 7),
                               shuffle: true, batchSize: 32, dropRemainder: true)
        data.seed = 1  // the dataset seed set_seed(1) sets
        try model.train(epochs: 3, dataset: data, callbacks: [try LossMonitor(perPrintTimes: 5), TimeMonitor(), StopBelow()])
        print(try model.eval(data))  // [(name: "Accuracy", value: …), (name: "Loss", value: …)]
        // end snippet
        return (model, try model.eval(data))
    }
}

/// Stands in for the snippet's `import NPUSim` line (an import cannot stand in a function).
func import_NPUSim() {}

@Suite(.serialized) struct DocSnippetTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    /// The ```swift blocks of a Markdown file, each as its lines.
    static func blocks(_ file: URL) throws -> [[String]] {
        var blocks: [[String]] = [], current: [String]?
        for line in try String(contentsOf: file, encoding: .utf8).components(separatedBy: "\n") {
            if current == nil, line.trimmingCharacters(in: .whitespaces) == "```swift" {
                current = []
            } else if current != nil, line.trimmingCharacters(in: .whitespaces) == "```" {
                blocks.append(current!)
                current = nil
            } else if current != nil {
                current!.append(line)
            }
        }
        return blocks
    }

    /// The copies in this file, keyed "README.md #1", dedented; `import_NPUSim()` read as the import.
    static func copies() throws -> [String: [String]] {
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8).components(separatedBy: "\n")
        var copies: [String: [String]] = [:], key: String?, lines: [String] = []
        for line in source {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("// snippet ") {
                key = String(trimmed.dropFirst("// snippet ".count))
                lines = []
            } else if trimmed == "// end snippet", let k = key {
                let indent = lines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
                    .map { $0.prefix { $0 == " " }.count }.min() ?? 0
                copies[k] = lines.map { $0.count >= indent ? String($0.dropFirst(indent)) : $0 }
                    .map { $0 == "import_NPUSim()" ? "import NPUSim" : $0 }
                key = nil
            } else if key != nil {
                lines.append(line)
            }
        }
        return copies
    }

    @Test func everySwiftBlockInTheDocsIsCompiledHere() throws {
        let docs = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Docs").path)
            .filter { $0.hasSuffix(".md") }.sorted().map { "Docs/\($0)" }
        let copies = try Self.copies()
        var found = 0
        for file in ["README.md"] + docs {
            for (n, block) in try Self.blocks(Self.root.appendingPathComponent(file)).enumerated() {
                found += 1
                let key = "\(file) #\(n + 1)"
                let copy = try #require(copies[key], "\(key) has no compiled copy in DocSnippetTests.swift")
                #expect(copy == block, "\(key) differs from its compiled copy")
            }
        }
        #expect(found == copies.count, "copies of blocks that no longer exist")
    }

    /// Training.md's Model with a custom callback trains, stops where the callback asks, and
    /// evaluates.
    @Test func trainingSnippetRuns() throws {
        let (model, metrics) = try DocSnippets.training1()
        #expect(model.stepsTrained > 10 && model.stepsTrained < 30)  // stopped in epoch 2, below 2.2
        #expect(metrics.map(\.name) == ["Accuracy", "Loss"] && (0...1).contains(metrics[0].value))
    }

    @Test func readmeSnippetRuns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-snippet-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try NPY.write(try Tensor(shape: [4, 3], values: (0..<12).map { Float($0) }), path: dir.appendingPathComponent("x.npy").path)
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(dir.path)
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        try DocSnippets.readme1()
    }
}
