import Foundation
import Loaders
@testable import Runtime
import RuntimeCPU
import Testing
@testable import Posthoc

/// What every projection promises beyond parity: the refusals (each naming the layer and the reason),
/// the streaming covariance against a two-pass one, hybrid rank splits, and a LoRA-XS adapter that
/// starts where the base model is.
@Suite struct ProjectionContractTests {
    static func randomLayer(out: Int, in inF: Int, seed: UInt64, module: String = "m.layer") -> ProjectionLayer {
        var rng = SplitMix64(seed: seed)
        var w = DoubleMatrix(rows: out, columns: inF)
        for i in 0..<out { for j in 0..<inF { w[i, j] = rng.nextGaussian() } }
        return ProjectionLayer(module: module, index: 0, weight: w)
    }

    @Test func ranksLargerThanTheLayerAreRefusedByName() throws {
        let layer = Self.randomLayer(out: 6, in: 10, seed: 1, module: "model.layers.0.self_attn.v_proj")
        for name in ["svd", "dct", "rand", "dct-1/2_svd"] {
            let projection = try ProjectionSpec.parse(name, seed: 0)
            #expect(throws: ProjectionError.rankTooLarge(module: layer.module, rank: 7, outFeatures: 6, inFeatures: 10))
            { try projection.project(layer, rank: 7) }
        }
        let message = ProjectionError.rankTooLarge(module: layer.module, rank: 7, outFeatures: 6, inFeatures: 10)
            .description
        #expect(message.contains("v_proj") && message.contains("rank ≤ 6"), "\(message)")
    }

    @Test func unknownNamesAndBadHybridsAreRefused() {
        #expect(throws: ProjectionError.unknown(name: "pca")) { try ProjectionSpec.parse("pca", seed: 0) }
        for bad in ["dct-3/4_svd-1/2_random", "dct-1/2_dct", "dct-1/2_svd_random", "dct-x_svd", "dct-1/2"] {
            #expect(throws: ProjectionError.self, "\(bad)") { try ProjectionSpec.parse(bad, seed: 0) }
        }
        do {
            _ = try ProjectionSpec.parse("dct-3/4_svd-1/2_random", seed: 0)
        } catch {
            #expect("\(error)".contains("exceed") || "\(error)".contains("sum"), "\(error)")
        }
    }

    /// Upstream's split: ⌊r·f⌋ to each fractioned part, the rest to the unfractioned one.
    @Test func hybridRanksFollowUpstream() throws {
        let h = try #require(try ProjectionSpec.parse("dct-1/4_svd-1/4_random", seed: 0) as? HybridProjection)
        #expect(try h.ranks(total: 8) == [2, 2, 4])
        #expect(try h.ranks(total: 6) == [1, 1, 4])
        let half = try #require(try ProjectionSpec.parse("cca-1/2_svd", seed: 0) as? HybridProjection)
        #expect(try half.ranks(total: 5) == [2, 3])
        #expect(half.needsInputCovariance)
        let layer = Self.randomLayer(out: 12, in: 9, seed: 3)
        let bases = try ProjectionSpec.parse("dct-1/2_svd", seed: 0).project(layer, rank: 6)
        #expect(bases.a.rows == 6 && bases.a.columns == 9 && bases.b.rows == 12 && bases.b.columns == 6)
        // Block-diagonal core: nothing couples the DCT block (rank 3) to the SVD block.
        for i in 0..<3 { for j in 3..<6 { #expect(bases.core[i, j] == 0 && bases.core[j, i] == 0) } }
    }

    /// At full rank every family reconstructs W exactly (its bases span the whole space). Hybrids do not:
    /// their parts approximate W independently and the block-diagonal core adds the approximations.
    @Test(arguments: ["svd", "dct", "rand"])
    func fullRankReconstructsTheWeight(_ name: String) throws {
        let layer = Self.randomLayer(out: 7, in: 7, seed: 9)
        let bases = try ProjectionSpec.parse(name, seed: 5).project(layer, rank: 7)
        #expect(bases.relativeError(to: layer.weight) < 1e-10, "\(name): \(bases.relativeError(to: layer.weight))")
    }

    /// The reach (the best core in the subspace) is the reconstruction error where the core is W's own
    /// coefficients; a hybrid's reconstruction counts W once per part, its reach does not: its subspace
    /// holds its SVD part's, so it reaches W at least as well.
    @Test func theReachMeasuresTheSubspaceAlsoForHybrids() throws {
        let layer = Self.randomLayer(out: 12, in: 9, seed: 3)
        for name in ["svd", "dct", "rand"] {
            let bases = try ProjectionSpec.parse(name, seed: 5).project(layer, rank: 4)
            let reach = try bases.reach(of: layer.weight), error = bases.relativeError(to: layer.weight)
            #expect(abs(reach - error) < 1e-10 && reach > 0.1, "\(name): reach \(reach), error \(error)")
        }
        let hybrid = try ProjectionSpec.parse("dct-1/2_svd", seed: 0).project(layer, rank: 6)
        let svdPart = try ProjectionSpec.parse("svd", seed: 0).project(layer, rank: 3)
        let reach = try hybrid.reach(of: layer.weight)
        #expect(reach <= (try svdPart.reach(of: layer.weight)) + 1e-12)
        #expect(reach < hybrid.relativeError(to: layer.weight), "reach \(reach)")
        // A square layer at full rank: the subspace is everything, whatever the core.
        let square = Self.randomLayer(out: 9, in: 9, seed: 6)
        let full = try ProjectionSpec.parse("dct-1/2_svd", seed: 0).project(square, rank: 9)
        #expect(try full.reach(of: square.weight) < 1e-10)
    }

    @Test func streamingCovarianceEqualsTheTwoPassOne() throws {
        let n = 5, rows = 41
        var rng = SplitMix64(seed: 4)
        let x = (0..<(rows * n)).map { _ in Float(rng.nextGaussian() * 3 + 1) }
        let streamed = InputCovariance(dimension: n)
        x.withUnsafeBufferPointer { p in
            for (start, count) in [(0, 1), (1, 17), (18, 3), (21, 20)] {
                streamed.observe(input: p.baseAddress! + start * n, rows: count, columns: n)
            }
        }
        let estimate = try #require(streamed.estimate)
        #expect(estimate.tokens == rows)
        var mean = [Double](repeating: 0, count: n)
        for t in 0..<rows { for j in 0..<n { mean[j] += Double(x[t * n + j]) / Double(rows) } }
        for i in 0..<n {
            for j in 0..<n {
                var s = 0.0
                for t in 0..<rows { s += (Double(x[t * n + i]) - mean[i]) * (Double(x[t * n + j]) - mean[j]) }
                #expect(abs(estimate.covariance[i, j] - s / Double(rows - 1)) < 1e-9)
            }
        }
    }

    /// Fewer inputs than dimensions: refused with the number of eigenvalues at the clamp.
    @Test func singularCovarianceIsRefusedWithItsClampedCount() throws {
        let n = 12
        var rng = SplitMix64(seed: 8)
        let x = (0..<(4 * n)).map { _ in Float(rng.nextGaussian()) }
        let covariance = InputCovariance(dimension: n)
        x.withUnsafeBufferPointer { covariance.observe(input: $0.baseAddress!, rows: 4, columns: n) }
        var layer = Self.randomLayer(out: 8, in: n, seed: 2, module: "encoder.layer.1.attention.self.query")
        layer = ProjectionLayer(
            module: layer.module, index: 0, weight: layer.weight, inputCovariance: covariance.estimate)
        do {
            _ = try WhitenedSVDProjection().project(layer, rank: 4)
            Issue.record("a rank-3 covariance was accepted")
        } catch let error as ProjectionError {
            guard case .singularCovariance(let module, let clamped, let dimension, let tokens, _) = error else {
                Issue.record("\(error)")
                return
            }
            // 4 centred rows span 3 directions: 9 of the 12 eigenvalues sit at the clamp.
            #expect(module == layer.module && clamped == 9 && dimension == n && tokens == 4)
            #expect(error.description.contains("9 of its 12 eigenvalues"), "\(error)")
        }
        let bare = Self.randomLayer(out: 8, in: n, seed: 2, module: "encoder.layer.1.attention.self.query")
        #expect(throws: ProjectionError.noInputCovariance(module: bare.module)) {
            try WhitenedSVDProjection().project(bare, rank: 4)
        }
    }

    /// A fresh LoRA-XS adapter (core ~ N(0, 1e-5²)) leaves the model's outputs where the base model's are,
    /// and W-SVD with no batches to compute its covariance on is refused.
    @Test func freshLoRAXSAdapterStartsAtTheBaseModel() throws {
        let backend = CPUBackend(threads: 2)
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        let m = loaded.model
        // 8 prompts of 12 tokens: 96 inputs, more than the 64 dimensions W-SVD's covariance needs.
        var rng = SplitMix64(seed: 6)
        let sequences = (0..<8).map { _ in (0..<12).map { _ in 1 + Int(rng.next() % 90) } }
        let examples = sequences.enumerated().map {
            PreparedExample(id: "\($0.offset)", label: 0, tokens: $0.element, answerTokens: [10, 20])
        }
        let objective = DecoderObjective(model: m, examples: examples)
        let all = Array(0..<8)
        let base = objective.choiceLogits(all).logits.flatMap { $0 }
        let fresh = try NewAdapter.decoder(
            m, rank: 4, alpha: 8, targets: ["q_proj", "v_proj"], baseModel: nil, seed: 1)
        for name in ["svd", "wsvd", "dct-1/2_svd"] {
            let made = try LoRAXSInitialisation.adapter(
                for: m, replacing: fresh, projection: try ProjectionSpec.parse(name, seed: 1), rank: 4,
                objective: objective, covarianceBatches: name == "wsvd" ? [[0, 1, 2], [3, 4, 5, 6, 7]] : [], seed: 2)
            #expect(made.adapter.kind == .loraXS && made.layers.count == fresh.layers.count)
            #expect((made.covariance != nil) == (name == "wsvd"))
            try m.attach(made.adapter)
            let adapted = objective.choiceLogits(all).logits.flatMap { $0 }
            m.detachAdapters()
            for (a, b) in zip(adapted, base) { #expect(abs(a - b) < 1e-3, "\(name): \(a) vs \(b)") }
        }
        // The covariance pass reaches every token of every layer: the last layer's MLP and the LM head too.
        let last = "model.layers.\(m.layers.count - 1)"
        let seen = LoRAXSInitialisation.inputCovariances(
            of: m, modules: [last + ".self_attn.q_proj", last + ".mlp.down_proj", "lm_head"]
        ) { objective.forwardAllPositions(all) }
        #expect(seen.count == 3 && seen.values.allSatisfy { $0.tokens == 96 }, "\(seen.values.map(\.tokens))")
        #expect(m.allLinears.allSatisfy { $0.inputObserver == nil }, "observers left behind")
        #expect(throws: ProjectionError.self) {
            try LoRAXSInitialisation.adapter(
                for: m, replacing: fresh, projection: WhitenedSVDProjection(), rank: 4, objective: objective,
                covarianceBatches: [], seed: 2)
        }
    }
}
