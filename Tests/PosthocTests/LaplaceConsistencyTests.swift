import Foundation
import Loaders
import Testing
@testable import Posthoc
@testable import Runtime
import RuntimeCPU

/// Laplace's parts checked against each other on the tiny LLaMA-3 fixture: the GGN from the loss Hessian's
/// square-root passes against Σ_n J_nᵀ Λ_n J_n built from the Jacobian passes, the structures' functional
/// variances against a dense solve, the prior search against the marginal likelihood it maximises, and the
/// links' limits. (Agreement with laplace-torch itself: `LaplaceParityTests`.)
@Suite struct LaplaceConsistencyTests {
    let backend = CPUBackend(threads: 2)

    struct Setup {
        let model: LlamaModel
        let objective: DecoderObjective
        let parameters: AdapterParameters
        let layout: LaplaceLayout
    }

    func setup(count: Int = 5, header: [Int] = []) throws -> Setup {
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        // Two of the fixture adapter's modules (P = 896), so the dense references stay small.
        let whole = try LoRAAdapter.load(
            directory: fixture("models/tiny-llama3-adapter"), baseShapes: loaded.parameterShapes)
        let kept = ["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.v_proj"]
        let adapter = LoRAAdapter.inMemory(
            config: whole.config, layers: whole.layers.filter { kept.contains($0.module) }, savedParameters: [])
        try loaded.model.attach(adapter)
        var rng = SplitMix64(seed: 5)
        let examples = (0..<count).map { i in
            PreparedExample(
                id: "\(i)", label: i % 4,
                tokens: header + (0..<(3 + i % 4)).map { _ in Int(rng.next(below: 256)) },
                answerTokens: [10, 20, 30, 40])
        }
        let parameters = try loaded.model.adapterParameters(adapter)
        let layout = try LaplaceLayout(parameters: parameters, subset: .all, name: "tiny-llama3-adapter")
        return Setup(
            model: loaded.model, objective: DecoderObjective(model: loaded.model, examples: examples),
            parameters: parameters, layout: layout)
    }

    /// Each example's K Jacobian rows (P each), from the unit-logit passes, and its probabilities.
    func jacobians(_ s: Setup) -> [(j: [[Float]], p: [Double])] {
        let collector = CurvatureCollector(layout: s.layout, backend: backend, kronecker: nil, perExample: true)
        return (0..<s.objective.exampleCount).map { i in
            s.objective.backwardForCurvature(
                [i], target: .logits, context: s.parameters.context(observer: collector, accumulating: false))
            return (collector.gradients[0], collector.batch!.probabilities[0])
        }
    }

    /// Σ_n J_nᵀ (diag p_n − p_n p_nᵀ) J_n in double precision.
    func referenceGGN(_ rows: [(j: [[Float]], p: [Double])], parameters P: Int) -> [Double] {
        var h = [Double](repeating: 0, count: P * P)
        for (j, p) in rows {
            let K = p.count
            for k in 0..<K {
                for l in 0..<K {
                    let lambda = (k == l ? p[k] : 0) - p[k] * p[l]
                    for a in 0..<P where j[k][a] != 0 {
                        let x = lambda * Double(j[k][a])
                        for b in 0..<P { h[a * P + b] += x * Double(j[l][b]) }
                    }
                }
            }
        }
        return h
    }

    @Test func theGGNPassesGiveJacobianTransposeLambdaJacobian() throws {
        let s = try setup()
        let P = s.layout.parameterCount
        let fit = try LaplaceFit.fit(
            s.objective, indices: Array(0..<5), parameters: s.parameters, layout: s.layout,
            settings: .init(structures: [.diag, .full], batchSize: 2), backend: backend)
        let reference = referenceGGN(jacobians(s), parameters: P)
        let diag = try #require(fit.structures[0] as? DiagonalLaplace)
        let scale = (0..<P).map { abs(reference[$0 * P + $0]) }.max()!
        let worst = (0..<P).map { abs(diag.diagonal[$0] - reference[$0 * P + $0]) }.max()!
        #expect(worst <= 1e-4 * scale, "GGN diagonal off by \(worst) (scale \(scale))")
        // The full structure's eigenvalues sum to the trace, and the loss is the summed cross-entropy.
        let full = try #require(fit.structures[1] as? FullLaplace)
        let trace = (0..<P).reduce(0.0) { $0 + reference[$1 * P + $1] }
        #expect(abs(full.spectrum.reduce(0, +) - trace) <= 1e-4 * trace)
        #expect(fit.count == 5 && fit.loss > 0)
    }

    /// Examples that share a prompt header: batches run its forward once (and copy it into each example),
    /// batches of one run it per example; every structure comes out the same.
    @Test func aSharedHeaderLeavesTheCurvatureUnchanged() throws {
        let s = try setup(header: [7, 8, 9, 11, 12])
        #expect(s.objective.header.count >= 5)
        func fit(batch: Int) throws -> LaplaceFit {
            try LaplaceFit.fit(
                s.objective, indices: Array(0..<5), parameters: s.parameters, layout: s.layout,
                settings: .init(structures: [.kron, .diag, .full], batchSize: batch), backend: backend)
        }
        let alone = try fit(batch: 1), shared = try fit(batch: 5)
        #expect(abs(alone.loss - shared.loss) <= 1e-5 * alone.loss)
        for (a, b) in zip(alone.structures, shared.structures) {
            let x = a.spectrum.sorted(), y = b.spectrum.sorted(), scale = x.last!
            #expect(zip(x, y).allSatisfy { abs($0 - $1) <= 1e-4 * scale }, "\(a.structure)")
            let ma = alone.marginalLikelihood(a).logMarginalLikelihood(prior: 0.5),
                mb = shared.marginalLikelihood(b).logMarginalLikelihood(prior: 0.5)
            #expect(abs(ma - mb) <= 1e-4 * abs(ma), "\(a.structure): \(ma) vs \(mb)")
        }
    }

    /// J·(H + δI)⁻¹·Jᵀ of the full structure (eigenbasis) against a dense Cholesky solve, and the diagonal
    /// structure's against its own definition.
    @Test func functionalVariancesMatchADenseSolve() throws {
        let s = try setup()
        let P = s.layout.parameterCount, prior = 0.7
        let fit = try LaplaceFit.fit(
            s.objective, indices: Array(0..<5), parameters: s.parameters, layout: s.layout,
            settings: .init(structures: [.full, .diag], batchSize: 3), backend: backend)
        let rows = jacobians(s)
        var precision = referenceGGN(rows, parameters: P)
        for a in 0..<P { precision[a * P + a] += prior }
        let solve = CholeskySolve((0..<P).map { Array(precision[($0 * P)..<(($0 + 1) * P)]) })
        let (j, _) = rows[2]
        let got = fit.structures[0].functionalVariance(j, prior: prior)
        for k in 0..<j.count {
            let x = solve(j[k].map(Double.init))
            for m in 0..<j.count {
                let want = zip(j[m], x).reduce(0.0) { $0 + Double($1.0) * $1.1 }
                #expect(abs(got[k][m] - want) <= 1e-4 * abs(want) + 1e-7, "full f_var[\(k)][\(m)]")
            }
        }
        let diag = fit.structures[1] as! DiagonalLaplace
        let dv = diag.functionalVariance(j, prior: prior)
        let want = (0..<P).reduce(0.0) { $0 + Double(j[1][$1]) * Double(j[1][$1]) / (diag.diagonal[$1] + prior) }
        #expect(abs(dv[1][1] - want) <= 1e-9 * want)
    }

    @Test func thePriorSearchMaximisesTheMarginalLikelihood() throws {
        let s = try setup()
        let fit = try LaplaceFit.fit(
            s.objective, indices: Array(0..<5), parameters: s.parameters, layout: s.layout,
            settings: .init(structures: [.kron, .diag]), backend: backend)
        for structure in fit.structures {
            let ml = fit.marginalLikelihood(structure)
            let best = ml.maximisingPrior().values[0]
            let group = ml.groups(.scalar)[0]
            #expect(
                abs(group.negativeGradient(logPrior: Foundation.log(best))) < 1e-6 * Double(structure.parameterCount))
            let top = ml.logMarginalLikelihood(prior: best)
            #expect(top.isFinite)
            for other in [best * 1.05, best / 1.05, ml.upstreamPrior().values[0], 1] {
                #expect(ml.logMarginalLikelihood(prior: other) <= top + 1e-9 * abs(top), "\(structure.structure)")
            }
            // A layerwise prior (one δ per tensor) maximises each block's term: it beats the scalar, and
            // moving any one of its values lowers the marginal likelihood.
            let layerwise = ml.maximisingPrior(.layerwise)
            #expect(layerwise.values.count == s.layout.blocks.count)
            let topLayerwise = ml.logMarginalLikelihood(prior: layerwise)
            #expect(topLayerwise >= top - 1e-9 * abs(top))
            for b in [0, layerwise.values.count / 2, layerwise.values.count - 1] {
                for factor in [1.05, 1 / 1.05] {
                    var moved = layerwise.values
                    moved[b] *= factor
                    #expect(ml.logMarginalLikelihood(prior: PriorPrecision(moved)) <= topLayerwise)
                }
            }
        }
    }

    /// Weight samples θ_MAP + U·z/√(λ+δ) have the posterior's covariance: for a direction j, the variance
    /// of j·θ over draws is j·Σ·jᵀ, the functional variance of that one row.
    @Test func weightSamplesHaveThePosteriorCovariance() throws {
        let s = try setup()
        let fit = try LaplaceFit.fit(
            s.objective, indices: Array(0..<5), parameters: s.parameters, layout: s.layout,
            settings: .init(structures: [.kron, .diag]), backend: backend)
        let P = s.layout.parameterCount
        var rng = SplitMix64(seed: 11)
        let direction = (0..<P).map { _ in Float(StandardNormal.doublePair(&rng).0) }
        for structure in fit.structures {
            let prior = PriorPrecision.scalar(0.5)
            let want = structure.functionalVariance([direction], priors: [prior])[0][0][0]
            let draws = 400
            var sum = 0.0, squares = 0.0
            for _ in 0..<draws {
                let z = (0..<P).map { _ in Float(StandardNormal.doublePair(&rng).0) }
                let theta = structure.sample(mean: s.layout.values, prior: prior, normals: z)
                var projection = 0.0
                for p in 0..<P { projection += Double(direction[p]) * Double(theta[p] - s.layout.values[p]) }
                sum += projection
                squares += projection * projection
            }
            let variance = squares / Double(draws) - (sum / Double(draws)) * (sum / Double(draws))
            // The sample variance of 400 Gaussian draws is within 4 standard errors (√(2/400) ≈ 7 %).
            #expect(abs(variance - want) < 4 * (2.0 / Double(draws)).squareRoot() * want, "\(structure.structure)")
        }
    }

    @Test func linksReduceToTheSoftmaxWithoutVariance() {
        let f = [0.3, -1.2, 2.0], zero = [[Double]](repeating: [0, 0, 0], count: 3)
        let softmax = GLMLink.softmax(f)
        for (a, b) in zip(GLMLink.probit.probabilities(mean: f, variance: zero), softmax) {
            #expect(abs(a - b) < 1e-12)
        }
        for (a, b) in zip(GLMLink.mc.probabilities(mean: f, variance: zero, samples: 10), softmax) {
            #expect(abs(a - b) < 1e-12)
        }
        let v = [[0.5, 0.1, 0.0], [0.1, 0.8, 0.2], [0.0, 0.2, 0.3]]
        for link in GLMLink.allCases {
            let p = link.probabilities(mean: f, variance: v, samples: 2000, seed: 3)
            #expect(abs(p.reduce(0, +) - 1) < 1e-9 && p.allSatisfy { $0 > 0 }, "\(link)")
        }
        // The probit's temperature only flattens: the top class keeps its rank and loses probability.
        let p = GLMLink.probit.probabilities(mean: f, variance: v)
        #expect(p[2] < softmax[2] && p[2] == p.max())
    }

    /// A saved posterior evaluated with other links: one prior per structure carries over to any link;
    /// priors chosen per link (the grid's) are refused for a link that has none of its own.
    @Test func otherLinksGetAPriorOnlyWhereItDoesNotDependOnTheLink() throws {
        let s = try setup(count: 2)
        let fit = try LaplaceFit.fit(
            s.objective, indices: [0, 1], parameters: s.parameters, layout: s.layout,
            settings: .init(structures: [.diag]), backend: backend)
        let probit = LaplaceProcedure.Row(structure: .diag, link: .probit)
        let bridge = LaplaceProcedure.Row(structure: .diag, link: .bridge)
        func fitted(_ priors: [Double]) -> LaplaceProcedure.Fitted {
            let posteriors = zip([probit, bridge], priors).map {
                (
                    $0,
                    LaplaceProcedure.Posterior(
                        structure: .diag, prior: .scalar($1), logMarginalLikelihood: 0, clippedEigenvalues: 0)
                )
            }
            return LaplaceProcedure.Fitted(
                fit: fit, rows: [probit, bridge], posteriors: Dictionary(uniqueKeysWithValues: posteriors),
                seconds: 0, warnings: [])
        }
        let mc = LaplaceProcedure.Row(structure: .diag, link: .mc)
        let shared = try fitted([2, 2]).withRows([.mc, .bridge])
        #expect(shared.rows == [mc, bridge] && shared.posteriors[mc]?.prior == .scalar(2))
        let perLink = fitted([2, 5])
        #expect(try perLink.withRows([.bridge]).posteriors[bridge]?.prior == .scalar(5))
        #expect(throws: UsageError.self) { try perLink.withRows([.mc]) }
    }

    /// A layerwise prior with the full structure is refused before the curvature pass: the observer that
    /// counts the fit's progress is never called.
    @Test func aLayerwisePriorWithFullIsRefusedBeforeTheFit() throws {
        let s = try setup(count: 2)
        let procedure = LaplaceProcedure(
            settings: .init(
                fit: .init(structures: [.kron, .full]), prior: .marglik, priorStructure: .layerwise,
                links: [.probit]))
        var progressed = false
        #expect(throws: UsageError.self) {
            try procedure.fit(
                s.objective, parameters: s.parameters, layout: s.layout, backend: backend,
                progress: { _, done, _ in progressed = progressed || done > 0 })
        }
        #expect(!progressed)
        // What the early check relies on: each structure's kind says whether its fitted basis is block-diagonal.
        let fit = try LaplaceFit.fit(
            s.objective, indices: [0, 1], parameters: s.parameters, layout: s.layout,
            settings: .init(structures: HessianStructure.allCases), backend: backend)
        for f in fit.structures { #expect(f.structure.hasBlockDiagonalBasis == (f.blockRanges != nil)) }
    }

    /// θ over a LoRA-XS adapter whose bases train too is refused, naming the layer: the curvature events
    /// carry the core's activity only, so the bases would get the prior alone. Over its cores it is fine.
    @Test func trainedLoRAXSBasesAreRefused() throws {
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        let adapter = try LoRAAdapter.load(
            directory: fixture("gradients/tiny-llama3-loraxs-adapter"), baseShapes: loaded.parameterShapes)
        try loaded.model.attach(adapter)
        let withBases = try loaded.model.adapterParameters(adapter, trainingBases: true)
        do {
            _ = try LaplaceLayout(parameters: withBases, subset: .all, name: "loraxs")
            Issue.record("a layout over trained bases was accepted")
        } catch let error as UsageError {
            #expect("\(error)".contains("bases are parameters too") && "\(error)".contains("model.layers."))
        }
        #expect(try LaplaceLayout(parameters: withBases, subset: .cores, name: "loraxs").parameterCount > 0)
    }
}
