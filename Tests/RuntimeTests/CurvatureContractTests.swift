import Foundation
import Loaders
import Testing
@testable import Runtime
import RuntimeCPU

/// What a curvature pass promises an accumulator (Laplace's GGN, Fisher and marginal likelihood): each
/// batch's outputs before its backward passes, no change to the training gradients, and LoRA-XS events
/// that give the core R's own gradient.
@Suite struct CurvatureContractTests {
    let backend = CPUBackend(threads: 2)

    final class Recorder: GradientObserver {
        var batches: [CurvatureBatch] = []
        var events = 0
        /// Σ over events of Σ_t ∂L/∂u_tᵀ v_t per module: LoRA-XS core gradients from the events.
        var core: [String: [Double]] = [:]
        func observe(batch: CurvatureBatch) { batches.append(batch) }
        func observe(_ e: LoRABackwardEvent) {
            events += 1
            guard let v = e.coreInput else { return }
            var g = core[e.module] ?? [Double](repeating: 0, count: e.rank * e.rank)
            for t in 0..<e.rows {
                for i in 0..<e.rank {
                    let du = Double(e.loraAOutputGradient[t * e.rank + i])
                    for j in 0..<e.rank { g[i * e.rank + j] += du * Double(v[t * e.rank + j]) }
                }
            }
            core[e.module] = g
        }
    }

    /// Per (module, output index): Σ over events of lora_A's gradient Σ_t ∂L/∂u_t x_tᵀ and lora_B's
    /// Σ_t s·∂L/∂y_t u_tᵀ, as flat arrays.
    final class PassRecorder: GradientObserver {
        var sums: [String: [Double]] = [:]
        func observe(_ e: LoRABackwardEvent) {
            let key = "\(e.module) pass \(e.outputIndex.map(String.init) ?? "-")"
            var g = sums[key] ?? [Double](repeating: 0, count: e.rank * (e.inFeatures + e.outFeatures))
            for t in 0..<e.rows {
                for i in 0..<e.rank {
                    let du = Double(e.loraAOutputGradient[t * e.rank + i])
                    for j in 0..<e.inFeatures { g[i * e.inFeatures + j] += du * Double(e.input[t * e.inFeatures + j]) }
                }
                for o in 0..<e.outFeatures {
                    let dy = Double(e.loraBOutputGradient[t * e.outputGradientStride + o])
                    for i in 0..<e.rank {
                        g[e.rank * e.inFeatures + o * e.rank + i] += dy * Double(e.loraBInput[t * e.rank + i])
                    }
                }
            }
            sums[key] = g
        }
    }

    func llama3(adapter: String) throws -> (LlamaModel, LoRAAdapter, DecoderObjective) {
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        let a = try LoRAAdapter.load(directory: fixture(adapter), baseShapes: loaded.parameterShapes)
        try loaded.model.attach(a)
        let seqs = GradientTests.sequences(vocabulary: loaded.model.config.vocabularySize, seed: 23, count: 5)
        let examples = seqs.enumerated().map {
            PreparedExample(id: "\($0)", label: ($0 * 3) % 4, tokens: $1, answerTokens: GradientTests.answerIDs)
        }
        return (loaded.model, a, DecoderObjective(model: loaded.model, examples: examples))
    }

    /// The GGN's passes start from a square root of diag(p) − ppᵀ with K − 1 columns: S·Sᵀ must be the
    /// Hessian exactly, also where a class's probability underflows and in batches that mix 2 to 5 classes.
    @Test func lossHessianSquareRootIsExactWithOneColumnFewer() {
        let logits: [[Float]] = [
            [0.3, -1.2, 2.0, 0.1], [1.5, -0.5], [0.2, 0.2, 0.2], [4.0, -3.0, 0.5, 1.0, -0.7], [90, -20, 3, 0],
            [-0.4],
        ]
        let roots = LogitGradients.lossHessianSquareRoot(logits: logits)
        #expect(roots.count == 4, "the widest row has 5 classes: 4 columns")
        for (row, z) in logits.enumerated() {
            let p = LogitGradients.softmax(z)
            for i in p.indices {
                for j in p.indices {
                    let want = (i == j ? p[i] : 0) - p[i] * p[j]
                    let got = roots.reduce(0.0) { $0 + Double($1[row][i]) * Double($1[row][j]) }
                    #expect(abs(got - want) <= 1e-6, "row \(row) H[\(i)][\(j)] = \(got), want \(want)")
                }
            }
            for c in max(0, z.count - 1)..<roots.count {
                #expect(roots[c][row].allSatisfy { $0 == 0 }, "row \(row) has no column \(c)")
            }
        }
    }

    @Test func batchesAreReportedBeforeTheirEventsAndNoGradientAccumulates() throws {
        let (m, adapter, objective) = try llama3(adapter: "models/tiny-llama3-adapter")
        let params = try m.adapterParameters(adapter)
        params.zeroGradients()
        let recorder = Recorder()
        try objective.curvature(Array(0..<5), target: .logits, batchSize: 2, parameters: params, observer: recorder)
        #expect(recorder.batches.map(\.examples) == [[0, 1], [2, 3], [4]])
        #expect(recorder.batches.reduce(0) { $0 + $1.count } == 5)
        #expect(recorder.events == 3 * 4 * adapter.layers.count, "one event per batch, answer logit and module")
        #expect(params.gradientSquaredNorm == 0, "a curvature pass changed the training gradients")
        // The batch's loss and probabilities are those of its logits and true labels.
        let tape = m.trainingForward(
            header: [], sequences: [objective.examples[2].tokens, objective.examples[3].tokens])
        let logits = m.choiceLogits(tape, answerIDs: Array(repeating: GradientTests.answerIDs, count: 2))
        let second = recorder.batches[1]
        #expect(second.labels == [2, 1])
        for (got, want) in zip(second.logits, logits) {
            expectClose(got, want.map(Double.init), tolerance: 1e-6, "logits")
        }
        let loss = LogitGradients.crossEntropy(logits: logits, labels: [2, 1], weight: 1).loss * 2
        #expect(abs(second.loss - loss) <= 1e-6 * loss, "loss \(second.loss) vs \(loss)")
        #expect(second.probabilities.allSatisfy { abs($0.reduce(0, +) - 1) < 1e-12 })
        #expect(recorder.batches.allSatisfy { $0.nonFiniteRows.isEmpty })
        let broken = CurvatureBatch(examples: [0, 1], logits: [[0, .nan], [1, 2]], labels: [0, 1])
        #expect(broken.nonFiniteRows == [0])
    }

    /// K passes in one sweep of the layers (stacked gradients) report what K separate backward passes report.
    @Test func passesInOneSweepEqualSeparatePasses() throws {
        let (m, adapter, objective) = try llama3(adapter: "models/tiny-llama3-adapter")
        let params = try m.adapterParameters(adapter)
        let tape = m.trainingForward(
            header: [], sequences: [objective.examples[0].tokens, objective.examples[1].tokens])
        let ids = Array(repeating: GradientTests.answerIDs, count: 2), K = GradientTests.answerIDs.count
        let passes = (0..<K).map { k in
            (outputIndex: Optional(k), logitGradients: LogitGradients.unit(k, classes: [K, K]))
        }
        let together = PassRecorder(), apart = PassRecorder()
        m.backward(
            tape, answerIDs: ids, passes: passes, context: params.context(observer: together, accumulating: false))
        for pass in passes {
            var context = params.context(observer: apart, accumulating: false)
            context.outputIndex = pass.outputIndex
            m.backward(tape, answerIDs: ids, logitGradients: pass.logitGradients, context: context)
        }
        #expect(Set(together.sums.keys) == Set(apart.sums.keys) && apart.sums.count == K * adapter.layers.count)
        for (key, want) in apart.sums {
            let scale = want.map(abs).max() ?? 1
            _ = expectClose(
                (together.sums[key] ?? []).map { Float($0 / scale) }, want.map { $0 / scale }, tolerance: 1e-5, key)
        }
    }

    /// The K passes' events in one sweep over a curvature tape (the shared header copied into each example)
    /// sum, per pass, to the gradient that pass's unit logits accumulate through the training tape (the header
    /// in the graph once): on tiny-qwen2's q/v adapter the top layer's MLP and output projection run at the
    /// scored rows only; on tiny-llama3's, which adapts them, at every row.
    @Test(arguments: [("tiny-qwen2", true), ("tiny-llama3", false)])
    func passEventsGiveEachLogitsGradient(_ name: String, topLayerAtScoredRows: Bool) throws {
        let (m, adapter) = try GradientTests().decoder(name)
        let params = try m.adapterParameters(adapter)
        let seqs = GradientTests.sequences(vocabulary: m.config.vocabularySize, seed: 31, count: 4)
        let header = seqs[3], suffixes = Array(seqs.prefix(3))
        let ids = Array(repeating: GradientTests.answerIDs, count: 3), K = GradientTests.answerIDs.count
        let passes = (0..<K).map { k in
            (outputIndex: Optional(k), logitGradients: LogitGradients.unit(k, classes: [K, K, K]))
        }
        let recorder = PassRecorder()
        let context = params.context(observer: recorder, accumulating: false)
        #expect(m.needsEveryRow(m.layers[m.layers.count - 1], context) == !topLayerAtScoredRows)
        m.backward(
            m.curvatureForward(header: header, suffixes: suffixes), answerIDs: ids, passes: passes,
            context: context)
        #expect(params.gradientSquaredNorm == 0, "observed passes changed the training gradients")
        let training = m.trainingForward(header: header, sequences: suffixes)
        for (k, pass) in passes.enumerated() {
            params.zeroGradients()
            m.backward(training, answerIDs: ids, logitGradients: pass.logitGradients, context: params.context())
            for layer in adapter.layers {
                let a = params.parameters.first { $0.module == layer.module && $0.role == .loraA }!
                let b = params.parameters.first { $0.module == layer.module && $0.role == .loraB }!
                let want = (a.gradient.values + b.gradient.values).map(Double.init)
                let scale = want.map(abs).max() ?? 1
                #expect(scale > 0, "\(layer.module) pass \(k) has no gradient")
                _ = expectClose(
                    (recorder.sums["\(layer.module) pass \(k)"] ?? []).map { Float($0 / scale) },
                    want.map { $0 / scale }, tolerance: 1e-5, "\(layer.module) pass \(k)")
            }
        }
    }

    /// Batches stop where their tapes would pass the budget (always at least one example), in order.
    @Test func batchesKeepTheirTapesWithinTheBudget() throws {
        let (m, adapter, objective) = try llama3(adapter: "models/tiny-llama3-adapter")
        let params = try m.adapterParameters(adapter)
        let bytes = (0..<5).map(objective.tapeBytes)
        #expect(bytes.allSatisfy { $0 > 0 })
        for budget in [1, bytes[0] + bytes[1], bytes.reduce(0, +)] {
            let recorder = Recorder()
            try objective.curvature(
                Array(0..<5), target: .logits, batchSize: 4, tapeBudget: budget, parameters: params,
                observer: recorder)
            let batches = recorder.batches.map(\.examples)
            #expect(batches.flatMap { $0 } == Array(0..<5), "budget \(budget): \(batches)")
            #expect(
                batches.allSatisfy { $0.count <= 4 && ($0.count == 1 || $0.map { bytes[$0] }.reduce(0, +) <= budget) })
            if budget == 1 { #expect(batches.count == 5) }
            if budget == bytes.reduce(0, +) { #expect(batches.map(\.count) == [4, 1]) }
        }
    }

    /// LoRA-XS: the events' core input v = x·A₀ᵀ and ∂L/∂u give the core's gradient, equal to the one the
    /// backward pass accumulates for R (∂L/∂(R·A₀)·A₀ᵀ).
    @Test func loraXSEventsGiveTheCoreGradient() throws {
        let (m, adapter, objective) = try llama3(adapter: "gradients/tiny-llama3-loraxs-adapter")
        #expect(adapter.kind == .loraXS)
        let params = try m.adapterParameters(adapter)
        let recorder = Recorder()
        params.zeroGradients()
        try objective.curvature(
            Array(0..<5), target: .trueLabels, batchSize: 2, parameters: params, observer: recorder,
            accumulatingGradients: true)
        params.finishGradients()
        let cores = params.parameters.filter { $0.role == .core }
        #expect(!cores.isEmpty && recorder.core.count == cores.count)
        for p in cores {
            expectClose(p.gradient.values, recorder.core[p.module] ?? [], tolerance: 1e-4, "\(p.module) core")
        }
    }
}
