import Foundation
import Loaders
import Testing
@testable import Runtime
import RuntimeCPU

/// The backward pass against central finite differences of the same float32 forward pass. Each
/// parameter tensor is checked along one unit direction v — half the analytic gradient's direction (so the
/// derivative is large against float32 rounding), half random (so an error orthogonal to it still shows)
/// — as Richardson-extrapolated central differences, (4·D(ε) − D(2ε)) / 3 with
/// D(ε) = (L(θ+εv) − L(θ−εv)) / 2ε, against ⟨∇L, v⟩: one well-conditioned number per tensor instead
/// of many noisy per-entry ones. Float32 losses leave about 1e-4 relative noise in these differences.
@Suite struct GradientTests {
    let backend = CPUBackend(threads: 2)
    static let decoders = ["tiny-llama3", "tiny-qwen2", "tiny-llama-linear"]
    static let answerIDs = [10, 20, 30, 40]

    func decoder(_ name: String) throws -> (LlamaModel, LoRAAdapter) {
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/\(name)"), backend: backend)
        let adapter = try LoRAAdapter.load(
            directory: fixture("models/\(name)-adapter"), baseShapes: loaded.parameterShapes)
        try loaded.model.attach(adapter)
        return (loaded.model, adapter)
    }

    static func sequences(vocabulary: Int, seed: UInt64, count: Int = 4) -> [[Int]] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in (0..<(3 + 2 * i)).map { _ in Int(rng.next() % UInt64(vocabulary)) } }
    }

    func decoderLoss(_ m: LlamaModel, header: [Int], sequences: [[Int]], labels: [Int]) -> Double {
        let tape = m.trainingForward(header: header, sequences: sequences)
        let ids = Array(repeating: Self.answerIDs, count: sequences.count)
        return LogitGradients.crossEntropy(logits: m.choiceLogits(tape, answerIDs: ids), labels: labels).loss
    }

    /// Worst relative error over the parameter tensors of the directional finite difference.
    func directionalCheck(
        _ params: AdapterParameters, epsilon: Float = 1e-2, seed: UInt64 = 7,
        loss: () -> Double
    ) -> [(String, Double, Double)] {
        var rng = SplitMix64(seed: seed)
        var results: [(String, Double, Double)] = []
        for p in params.parameters {
            let n = p.value.count
            func unit(_ x: [Float]) -> [Float] {
                let norm = Float(x.reduce(0) { $0 + Double($1 * $1) }.squareRoot())
                return norm > 0 ? x.map { $0 / norm } : x
            }
            let random = unit((0..<n).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) - 0.5) })
            let along = unit(p.gradient.values)
            let v = unit(zip(random, along).map { $0 + $1 })
            let analytic = (0..<n).reduce(0.0) { $0 + Double(p.gradient[$1]) * Double(v[$1]) }
            let saved = p.value.values
            func central(_ e: Float) -> Double {
                for j in 0..<n { p.value[j] = saved[j] + e * v[j] }
                params.valuesChanged()
                let plus = loss()
                for j in 0..<n { p.value[j] = saved[j] - e * v[j] }
                params.valuesChanged()
                let minus = loss()
                for j in 0..<n { p.value[j] = saved[j] }
                params.valuesChanged()
                return (plus - minus) / (2 * Double(e))
            }
            results.append((p.key, analytic, (4 * central(epsilon) - central(2 * epsilon)) / 3))
        }
        return results
    }

    func expectAgreement(
        _ results: [(String, Double, Double)], tolerance: Double, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let scale = results.map { abs($0.1) }.max() ?? 1
        #expect(scale > 1e-6, "gradients are all ~0", sourceLocation: sourceLocation)
        for (key, analytic, numeric) in results {
            let err = abs(analytic - numeric) / max(abs(numeric), 1e-2 * scale)
            #expect(
                err <= tolerance, "\(key): analytic \(analytic), finite difference \(numeric), rel. error \(err)",
                sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: decoders) func decoderGradientsMatchFiniteDifferences(_ name: String) throws {
        let (m, adapter) = try decoder(name)
        let seqs = Self.sequences(vocabulary: m.config.vocabularySize, seed: 11)
        let labels = [0, 3, 1, 2]
        let params = try m.adapterParameters(adapter)
        params.zeroGradients()
        let tape = m.trainingForward(header: [], sequences: seqs)
        let ids = Array(repeating: Self.answerIDs, count: seqs.count)
        let (_, grads) = LogitGradients.crossEntropy(logits: m.choiceLogits(tape, answerIDs: ids), labels: labels)
        m.backward(tape, answerIDs: ids, logitGradients: grads, context: params.context())
        params.finishGradients()
        let results = directionalCheck(params) { decoderLoss(m, header: [], sequences: seqs, labels: labels) }
        expectAgreement(results, tolerance: 1e-3)
    }

    /// L-LoRA-S: a LoRA-XS adapter whose bases train as well: R, A₀ (lora_A) and B (lora_B) each against
    /// finite differences, and R's gradient the same as when the bases are fixed.
    @Test func loraXSBasesGradientsMatchFiniteDifferences() throws {
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        let m = loaded.model
        let adapter = try LoRAAdapter.load(
            directory: fixture("gradients/tiny-llama3-loraxs-adapter"), baseShapes: loaded.parameterShapes)
        try m.attach(adapter)
        let seqs = Self.sequences(vocabulary: m.config.vocabularySize, seed: 12)
        let labels = [1, 0, 3, 2]
        let ids = Array(repeating: Self.answerIDs, count: seqs.count)
        func gradients(_ params: AdapterParameters) {
            params.zeroGradients()
            let tape = m.trainingForward(header: [], sequences: seqs)
            let (_, g) = LogitGradients.crossEntropy(logits: m.choiceLogits(tape, answerIDs: ids), labels: labels)
            m.backward(tape, answerIDs: ids, logitGradients: g, context: params.context())
            params.finishGradients()
        }
        let fixed = try m.adapterParameters(adapter)
        gradients(fixed)
        let coreOnly = Dictionary(uniqueKeysWithValues: fixed.parameters.map { ($0.key, $0.gradient.values) })
        let params = try m.adapterParameters(adapter, trainingBases: true)
        #expect(Set(params.parameters.map(\.role)) == [.core, .loraA, .loraB])
        #expect(params.parameters.count == 3 * fixed.parameters.count)
        gradients(params)
        for p in params.parameters where p.role == .core {
            expectClose(p.gradient.values, (coreOnly[p.key] ?? []).map(Double.init), tolerance: 1e-6, p.key)
        }
        let results = directionalCheck(params) { decoderLoss(m, header: [], sequences: seqs, labels: labels) }
        expectAgreement(results, tolerance: 1e-3)
    }

    @Test(arguments: decoders) func trainingForwardMatchesTheScorer(_ name: String) throws {
        let (m, _) = try decoder(name)
        let seqs = Self.sequences(vocabulary: m.config.vocabularySize, seed: 5)
        let tape = m.trainingForward(header: [], sequences: seqs)
        let want = m.forward(PackedBatch(seqs), output: .lastPositionLogits(ids: Self.answerIDs)).values
        let got = m.choiceLogits(tape, answerIDs: Array(repeating: Self.answerIDs, count: seqs.count)).flatMap { $0 }
        expectClose(got, want.map(Double.init), tolerance: 1e-5, "\(name) training forward")
    }

    /// A shared header run once gives the same loss and gradients as each sequence carrying it.
    @Test(arguments: decoders) func sharedHeaderGivesTheSameGradients(_ name: String) throws {
        let (m, adapter) = try decoder(name)
        let header = Self.sequences(vocabulary: m.config.vocabularySize, seed: 3, count: 1)[0] + [1, 2]
        let tails = Self.sequences(vocabulary: m.config.vocabularySize, seed: 4)
        let labels = [2, 0, 3, 1]
        let ids = Array(repeating: Self.answerIDs, count: tails.count)
        let params = try m.adapterParameters(adapter)
        func gradients(header h: [Int], _ s: [[Int]]) -> (Double, [[Float]]) {
            params.zeroGradients()
            let tape = m.trainingForward(header: h, sequences: s)
            let (loss, g) = LogitGradients.crossEntropy(logits: m.choiceLogits(tape, answerIDs: ids), labels: labels)
            m.backward(tape, answerIDs: ids, logitGradients: g, context: params.context())
            return (loss, params.parameters.map(\.gradient.values))
        }
        let (sharedLoss, shared) = gradients(header: header, tails)
        let (fullLoss, full) = gradients(header: [], tails.map { header + $0 })
        #expect(abs(sharedLoss - fullLoss) < 1e-5)
        for (key, (a, b)) in zip(params.parameters.map(\.key), zip(shared, full)) {
            expectClose(a, b.map(Double.init), tolerance: 1e-4, "\(name) \(key)")
        }
    }

    /// A curvature pass's tape with the header run once is the tape of the whole sequences: same layout,
    /// positions and scored rows, the same activations at every row of every layer.
    @Test(arguments: decoders) func curvatureForwardKeepsEverySequencesHeader(_ name: String) throws {
        let (m, _) = try decoder(name)
        let header = Self.sequences(vocabulary: m.config.vocabularySize, seed: 3, count: 1)[0] + [1, 2]
        let tails = Self.sequences(vocabulary: m.config.vocabularySize, seed: 4)
        let got = m.curvatureForward(header: header, suffixes: tails)
        let want = m.trainingForward(header: [], sequences: tails.map { header + $0 })
        #expect(got.layout.sequences == want.layout.sequences && got.layout.header == nil)
        #expect(got.positions == want.positions && got.scoredRows == want.scoredRows)
        expectClose(got.hidden.values, want.hidden.values.map(Double.init), tolerance: 1e-5, "\(name) hidden")
        for (what, a, b) in [
            ("xs", got.xs, want.xs), ("mids", got.mids, want.mids), ("qkv", got.qkv, want.qkv),
            ("attended", got.attended, want.attended), ("gateUp", got.gateUp, want.gateUp),
        ] {
            #expect(a.count == b.count, "\(name) \(what)")
            for (n, (x, y)) in zip(a, b).enumerated() {
                #expect(x.shape == y.shape, "\(name) \(what)[\(n)]")
                expectClose(x.values, y.values.map(Double.init), tolerance: 1e-5, "\(name) \(what)[\(n)]")
            }
        }
    }
}

extension GradientTests {
    static let encoders = ["tiny-bert", "tiny-roberta-cls"]

    func encoder(_ name: String) throws -> (BertModel, LoRAAdapter) {
        let loaded = try ModelLoader.loadEncoder(path: fixture("models/\(name)"), backend: backend)
        let adapter = try LoRAAdapter.load(
            directory: fixture("models/\(name)-adapter"), baseShapes: loaded.parameterShapes)
        try loaded.model.attach(adapter)
        return (loaded.model, adapter)
    }

    static func encoderSequences(_ m: BertModel, seed: UInt64) -> [[Int]] {
        let (first, last) = m.isRoberta ? (0, 2) : (101 % m.config.vocabularySize, 102 % m.config.vocabularySize)
        return sequences(vocabulary: m.config.vocabularySize, seed: seed).map {
            [first] + $0.map { max(3, $0) } + [last]
        }
    }

    func encoderLoss(_ m: BertModel, _ seqs: [[Int]], _ labels: [Int]) -> Double {
        let logits = m.trainingForward(seqs).logits
        let rows = (0..<seqs.count).map { Array(logits.values[($0 * logits.columns)..<(($0 + 1) * logits.columns)]) }
        return LogitGradients.crossEntropy(logits: rows, labels: labels).loss
    }

    @Test(arguments: encoders) func encoderGradientsMatchFiniteDifferences(_ name: String) throws {
        let (m, adapter) = try encoder(name)
        let seqs = Self.encoderSequences(m, seed: 21)
        let labels = seqs.indices.map { $0 % (m.labelCount ?? 2) }
        let params = try m.adapterParameters(adapter)
        #expect(params.parameters.contains { $0.role == .weight }, "the saved head trains")
        params.zeroGradients()
        let tape = m.trainingForward(seqs)
        let want = m.classify(seqs).values
        expectClose(tape.logits.values, want.map(Double.init), tolerance: 1e-5, "\(name) training forward")
        let rows = (0..<seqs.count).map {
            Array(tape.logits.values[($0 * tape.logits.columns)..<(($0 + 1) * tape.logits.columns)])
        }
        let (_, g) = LogitGradients.crossEntropy(logits: rows, labels: labels)
        m.backward(
            tape, logitGradients: Tensor(shape: tape.logits.shape, values: g.flatMap { $0 }), context: params.context())
        params.finishGradients()
        expectAgreement(directionalCheck(params) { encoderLoss(m, seqs, labels) }, tolerance: 1e-3)
    }
}

/// The curvature hooks: what observers receive, turned into per-example gradients by explicit products,
/// must add up to the backward pass's own gradients, and each example's share must equal a backward pass
/// over that example alone.
@Suite struct GradientObserverTests {
    let backend = CPUBackend(threads: 2)

    /// Per module and example: Σ_t ∂L/∂u_tᵀ x_t (lora_A) and Σ_t (s·∂L/∂y_t)ᵀ u_t (lora_B).
    final class PerExample: GradientObserver {
        var a: [String: [[Double]]] = [:]
        var b: [String: [[Double]]] = [:]
        func observe(_ e: LoRABackwardEvent) {
            var perA: [[Double]] = [], perB: [[Double]] = []
            for rows in e.examples {
                var ga = [Double](repeating: 0, count: e.rank * e.inFeatures)
                var gb = [Double](repeating: 0, count: e.outFeatures * e.rank)
                for t in rows {
                    for r in 0..<e.rank {
                        let du = Double(e.loraAOutputGradient[t * e.rank + r]), u = Double(e.loraBInput[t * e.rank + r])
                        for j in 0..<e.inFeatures {
                            ga[r * e.inFeatures + j] += du * Double(e.input[t * e.inFeatures + j])
                        }
                        for o in 0..<e.outFeatures {
                            gb[o * e.rank + r] += Double(e.loraBOutputGradient[t * e.outputGradientStride + o]) * u
                        }
                    }
                }
                perA.append(ga); perB.append(gb)
            }
            a[e.module] = perA; b[e.module] = perB
        }
    }

    @Test func decoderEventsGiveThePerExampleGradients() throws {
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        let adapter = try LoRAAdapter.load(
            directory: fixture("models/tiny-llama3-adapter"), baseShapes: loaded.parameterShapes)
        let m = loaded.model
        try m.attach(adapter)
        let seqs = GradientTests.sequences(vocabulary: m.config.vocabularySize, seed: 9, count: 3)
        let ids = Array(repeating: GradientTests.answerIDs, count: 3), labels = [1, 3, 0]
        let params = try m.adapterParameters(adapter)
        // Summed loss (weight 1) so that each example's share is its own gradient.
        func run(_ s: [[Int]], _ y: [Int], observer: GradientObserver?) {
            params.zeroGradients()
            let tape = m.trainingForward(header: [], sequences: s)
            let g = LogitGradients.crossEntropy(
                logits: m.choiceLogits(tape, answerIDs: Array(ids.prefix(s.count))), labels: y, weight: 1
            ).gradients
            m.backward(
                tape, answerIDs: Array(ids.prefix(s.count)), logitGradients: g,
                context: params.context(observer: observer))
        }
        let observer = PerExample()
        run(seqs, labels, observer: observer)
        let total = Dictionary(uniqueKeysWithValues: params.parameters.map { ($0.key, $0.gradient.values) })
        #expect(observer.a.count == adapter.layers.count)
        for (module, perExample) in observer.a {
            let summed = perExample.dropFirst().reduce(perExample[0]) { zip($0, $1).map(+) }
            expectClose(total["base_model.model.\(module).lora_A.weight"] ?? [], summed, tolerance: 1e-5, "\(module) A")
            let summedB = observer.b[module]!.dropFirst().reduce(observer.b[module]![0]) { zip($0, $1).map(+) }
            expectClose(
                total["base_model.model.\(module).lora_B.weight"] ?? [], summedB, tolerance: 1e-5, "\(module) B")
        }
        for i in 0..<3 {
            run([seqs[i]], [labels[i]], observer: nil)
            for p in params.parameters where p.role == .loraA {
                expectClose(p.gradient.values, observer.a[p.module]![i], tolerance: 1e-5, "\(p.module) example \(i)")
            }
        }
    }

    /// Jacobian rows: backward passes from each unit logit, weighted by the cross-entropy's logit gradient,
    /// add up to the cross-entropy gradient (the chain rule the GGN relies on).
    @Test func jacobianRowsRecombineIntoTheLossGradient() throws {
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-qwen2"), backend: backend)
        let adapter = try LoRAAdapter.load(
            directory: fixture("models/tiny-qwen2-adapter"), baseShapes: loaded.parameterShapes)
        let m = loaded.model
        try m.attach(adapter)
        let seqs = GradientTests.sequences(vocabulary: m.config.vocabularySize, seed: 13, count: 3)
        let ids = Array(repeating: GradientTests.answerIDs, count: 3)
        let params = try m.adapterParameters(adapter)
        let tape = m.trainingForward(header: [], sequences: seqs)
        let logits = m.choiceLogits(tape, answerIDs: ids)
        let sampled = LogitGradients.sampledLabels(logits: logits, examples: [0, 1, 2], seed: 5)
        #expect(sampled == LogitGradients.sampledLabels(logits: logits, examples: [0, 1, 2], seed: 5))
        let (_, ce) = LogitGradients.crossEntropy(logits: logits, labels: sampled)
        params.zeroGradients()
        m.backward(tape, answerIDs: ids, logitGradients: ce, context: params.context())
        let want = params.parameters.map(\.gradient.values)
        var combined = want.map { [Double](repeating: 0, count: $0.count) }
        for i in 0..<3 {
            for k in 0..<4 {
                var unit = LogitGradients.unit(-1, classes: [4, 4, 4])
                unit[i][k] = 1
                params.zeroGradients()
                m.backward(tape, answerIDs: ids, logitGradients: unit, context: params.context())
                for (n, p) in params.parameters.enumerated() {
                    for j in 0..<p.gradient.count { combined[n][j] += Double(ce[i][k]) * Double(p.gradient[j]) }
                }
            }
        }
        for (n, p) in params.parameters.enumerated() { expectClose(want[n], combined[n], tolerance: 1e-5, p.key) }
    }
}

extension GradientObserverTests {
    /// Counts events per (module, output index) and sums lora_A per-example gradients.
    final class Tally: GradientObserver {
        var events: [String: Int] = [:]
        var examplesSeen = 0
        func observe(_ e: LoRABackwardEvent) {
            events["\(e.module)#\(e.outputIndex.map(String.init) ?? "loss")", default: 0] += 1
            examplesSeen += e.examples.count
        }
    }

    /// The streamed curvature pass: one event per module and batch for a loss, one per module, batch and
    /// answer position for the Jacobian rows; gradients summed (weight 1) equal the per-example total.
    @Test func curvatureStreamVisitsEveryBatchAndOutput() throws {
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        let adapter = try LoRAAdapter.load(
            directory: fixture("models/tiny-llama3-adapter"), baseShapes: loaded.parameterShapes)
        let m = loaded.model
        try m.attach(adapter)
        let params = try m.adapterParameters(adapter)
        let seqs = GradientTests.sequences(vocabulary: m.config.vocabularySize, seed: 17, count: 5)
        let examples = seqs.enumerated().map {
            PreparedExample(id: "\($0)", label: $0 % 4, tokens: $1, answerTokens: GradientTests.answerIDs)
        }
        let objective = DecoderObjective(model: m, examples: examples)
        let modules = adapter.layers.count

        let losses = Tally()
        params.zeroGradients()
        try objective.curvature(
            Array(0..<5), target: .trueLabels, batchSize: 2, parameters: params, observer: losses,
            accumulatingGradients: true)
        #expect(losses.events.count == modules && losses.events.values.allSatisfy { $0 == 3 }, "\(losses.events)")
        let streamed = params.parameters.map(\.gradient.values)
        // The same sum from one full-batch backward pass with weight 1.
        params.zeroGradients()
        _ = objective.accumulate(Array(0..<5), weight: 1, parameters: params)
        // `accumulate` runs with the shared header; the sums agree to float rounding.
        for (p, g) in zip(params.parameters, streamed) {
            expectClose(g, p.gradient.values.map(Double.init), tolerance: 1e-4, p.key)
        }

        let jacobian = Tally()
        try objective.curvature(Array(0..<5), target: .logits, batchSize: 5, parameters: params, observer: jacobian)
        #expect(
            jacobian.events.count == modules * 4 && jacobian.events.values.allSatisfy { $0 == 1 },
            "\(jacobian.events.count) keys")
        let sampled = Tally()
        try objective.curvature(
            Array(0..<5), target: .sampledLabels(seed: 1), batchSize: 5, parameters: params, observer: sampled)
        #expect(sampled.events.count == modules)
    }

    /// Sampled labels are keyed by (seed, example), not by the row within a batch: the Monte Carlo Fisher's
    /// gradient sum is the same for any batch size, and equal logits in different examples draw independently.
    @Test func sampledLabelsDoNotDependOnTheBatchSize() throws {
        let flat: [[Float]] = Array(repeating: [0, 0, 0, 0], count: 64)
        let drawn = LogitGradients.sampledLabels(logits: flat, examples: Array(0..<64), seed: 3)
        #expect(Set(drawn).count == 4, "uniform logits in 64 examples drew \(Set(drawn))")
        let halves =
            LogitGradients.sampledLabels(logits: Array(flat[..<32]), examples: Array(0..<32), seed: 3)
            + LogitGradients.sampledLabels(logits: Array(flat[32...]), examples: Array(32..<64), seed: 3)
        #expect(halves == drawn)

        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        let adapter = try LoRAAdapter.load(
            directory: fixture("models/tiny-llama3-adapter"), baseShapes: loaded.parameterShapes)
        try loaded.model.attach(adapter)
        let params = try loaded.model.adapterParameters(adapter)
        let seqs = GradientTests.sequences(vocabulary: loaded.model.config.vocabularySize, seed: 19, count: 6)
        let examples = seqs.enumerated().map {
            PreparedExample(id: "\($0)", label: 0, tokens: $1, answerTokens: GradientTests.answerIDs)
        }
        let objective = DecoderObjective(model: loaded.model, examples: examples)
        var sums: [[[Float]]] = []
        for batchSize in [1, 2, 6] {
            params.zeroGradients()
            try objective.curvature(
                Array(0..<6), target: .sampledLabels(seed: 9), batchSize: batchSize, parameters: params,
                observer: Tally(), accumulatingGradients: true)
            sums.append(params.parameters.map(\.gradient.values))
        }
        for (n, p) in params.parameters.enumerated() {
            expectClose(sums[1][n], sums[0][n].map(Double.init), tolerance: 1e-5, "\(p.key) batch 2 vs 1")
            expectClose(sums[2][n], sums[0][n].map(Double.init), tolerance: 1e-5, "\(p.key) batch 6 vs 1")
        }
    }
}
