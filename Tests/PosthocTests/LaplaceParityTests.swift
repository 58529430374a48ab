import Foundation
import Loaders
import Testing
@testable import Posthoc
@testable import Runtime
import RuntimeCPU

/// bayeval's Laplace posteriors against laplace-torch 0.3 with `CurvlinopsGGN` at batch size 1
/// (`fixtures/laplace/tiny-llama3.json`, made by `scripts/make_laplace_fixtures.py`): the tiny LLaMA-3
/// decoder with its 15-module PEFT adapter (P = 8704), 6 fit and 4 test sequences. Tolerances are the
/// issue's: factors, diagonals, marginal likelihoods and GLM probabilities within 1e-4 relative, the
/// upstream prior precision within 1e-3.
@Suite struct LaplaceParityTests {
    struct GLM: Decodable {
        let f_mu: [Double]
        let f_var: [[Double]]
        let probit: [Double]
        let bridge: [Double]
        let bridge_norm: [Double]
    }
    struct Structure: Decodable {
        let log_marginal_likelihood: [String: Double]
        let upstream_prior_precision: Double
        let log_marginal_likelihood_at_upstream: Double
        let glm: [GLM]
        let diagonal: [Double]?
        let factors: [Factor]?
    }
    struct Factor: Decodable {
        let module: String
        let factor: String
        let G: [[Double]]
        let A: [[Double]]
    }
    struct Parameter: Decodable {
        let module: String
        let factor: String
        let shape: [Int]
    }
    struct Examples: Decodable {
        let sequences: [[Int]]
        let labels: [Int]
    }
    struct Reference: Decodable {
        let answer_ids: [Int]
        let fit: Examples
        let test: Examples
        let parameters: [Parameter]
        let loss: Double
        let kron: Structure
        let diag: Structure
        let full: Structure
    }

    static let reference: Reference = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: fixture("laplace/tiny-llama3.json")))
        return try! JSONDecoder().decode(Reference.self, from: data)
    }()

    nonisolated(unsafe) static let fitted: (fit: LaplaceFit, test: DecoderObjective, parameters: AdapterParameters) = {
        let backend = CPUBackend(threads: 2)
        let r = reference
        let loaded = try! ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        let adapter = try! LoRAAdapter.load(
            directory: fixture("models/tiny-llama3-adapter"), baseShapes: loaded.parameterShapes)
        try! loaded.model.attach(adapter)
        func examples(_ e: Examples) -> [PreparedExample] {
            zip(e.sequences, e.labels).enumerated().map {
                PreparedExample(id: "\($0)", label: $1.1, tokens: $1.0, answerTokens: r.answer_ids)
            }
        }
        let parameters = try! loaded.model.adapterParameters(adapter)
        let layout = try! LaplaceLayout(adapter: adapter, order: parameters.moduleOrder)
        let fit = try! LaplaceFit.fit(
            DecoderObjective(model: loaded.model, examples: examples(r.fit)), indices: Array(0..<r.fit.labels.count),
            parameters: parameters, layout: layout, settings: .init(structures: [.kron, .diag, .full], batchSize: 4),
            backend: backend)
        return (fit, DecoderObjective(model: loaded.model, examples: examples(r.test)), parameters)
    }()

    func relative(_ got: Double, _ want: Double) -> Double { abs(got - want) / max(abs(want), 1e-30) }

    @Test func parametersAreLaidOutAsLaplaceTorchLaysThemOut() {
        let blocks = Self.fitted.fit.layout.blocks
        #expect(blocks.map(\.module) == Self.reference.parameters.map(\.module))
        #expect(blocks.map(\.factor.rawValue) == Self.reference.parameters.map(\.factor))
        #expect(blocks.map { [$0.rows, $0.columns] } == Self.reference.parameters.map(\.shape))
        #expect(relative(Self.fitted.fit.loss, Self.reference.loss) < 1e-5)
    }

    /// KFAC's G and A of every LoRA factor (batch size 4 here: each example is normalised by its own length,
    /// so the batch does not matter), relative to each factor's largest entry.
    @Test func kroneckerFactorsMatch() throws {
        let kron = try #require(Self.fitted.fit.structures[0] as? KroneckerLaplace)
        let factors = try #require(Self.reference.kron.factors)
        var worst = 0.0
        for (block, ref) in zip(kron.blocks, factors) {
            #expect(block.block.module == ref.module && block.block.factor.rawValue == ref.factor)
            // The structure keeps eigenbases: rebuild U·diag(λ)·Uᵀ for each factor and compare.
            for (eigen, want) in [(block.output, ref.G), (block.input, ref.A)] {
                let n = want.count, scale = want.flatMap { $0 }.map(abs).max() ?? 1
                for i in 0..<n {
                    for j in 0..<n {
                        var s = 0.0
                        for k in 0..<n {
                            s += Double(eigen.vectors[i * n + k]) * eigen.values[k] * Double(eigen.vectors[j * n + k])
                        }
                        worst = max(worst, abs(s - want[i][j]) / scale)
                    }
                }
            }
        }
        #expect(worst < 1e-4, "worst KFAC factor entry off by \(worst) of the factor's largest")
    }

    @Test func ggnDiagonalMatches() throws {
        let diag = try #require(Self.fitted.fit.structures[1] as? DiagonalLaplace)
        let want = try #require(Self.reference.diag.diagonal)
        let scale = want.map(abs).max()!
        let worst = zip(diag.diagonal, want).map { abs($0 - $1) / scale }.max()!
        #expect(worst < 1e-4, "GGN diagonal off by \(worst) of its largest entry")
    }

    @Test(arguments: [0, 1, 2]) func marginalLikelihoodAndPriorMatch(_ index: Int) {
        let fit = Self.fitted.fit
        let structure = fit.structures[index]
        let ref = [Self.reference.kron, Self.reference.diag, Self.reference.full][index]
        let ml = fit.marginalLikelihood(structure)
        for (prior, want) in ref.log_marginal_likelihood {
            let got = ml.logMarginalLikelihood(prior: Double(prior)!)
            #expect(relative(got, want) < 1e-4, "\(structure.structure) LML at δ=\(prior): \(got) vs \(want)")
        }
        let upstream = ml.upstreamPrior()
        #expect(
            relative(upstream, ref.upstream_prior_precision) < 1e-3,
            "\(structure.structure) upstream prior \(upstream) vs \(ref.upstream_prior_precision)")
        // The exact search reaches at least laplace-torch's marginal likelihood.
        let best = ml.logMarginalLikelihood(prior: ml.maximisingPrior())
        #expect(best >= ref.log_marginal_likelihood_at_upstream - 1e-4 * abs(ref.log_marginal_likelihood_at_upstream))
    }

    /// GLM predictive at prior precision 1: the logits' variance J·Σ·Jᵀ and the probit, bridge and
    /// normalised-bridge probabilities of every test example.
    @Test func glmPredictivesMatch() throws {
        let (fit, test, parameters) = Self.fitted
        var predictions: [LaplacePrediction] = []
        try fit.predict(
            test, indices: Array(0..<test.exampleCount), parameters: parameters, priors: [1, 1, 1], batchSize: 3,
            backend: CPUBackend(threads: 2)
        ) { predictions += $0 }
        let refs = [Self.reference.kron, Self.reference.diag, Self.reference.full]
        for (s, ref) in refs.enumerated() {
            for (p, want) in zip(predictions, ref.glm) {
                for (a, b) in zip(p.logits, want.f_mu) { #expect(abs(a - b) <= 1e-4 * max(1, abs(b))) }
                let scale = want.f_var.flatMap { $0 }.map(abs).max()!
                let worst = zip(p.variances[s].flatMap { $0 }, want.f_var.flatMap { $0 }).map { abs($0 - $1) }.max()!
                #expect(worst <= 1e-4 * scale, "\(fit.structures[s].structure) f_var off by \(worst) (scale \(scale))")
                for (link, probs) in [
                    (GLMLink.probit, want.probit), (.bridge, want.bridge), (.bridgeNorm, want.bridge_norm),
                ] {
                    let got = link.probabilities(mean: p.logits, variance: p.variances[s])
                    let off = zip(got, probs).map { abs($0 - $1) }.max()!
                    #expect(off <= 1e-4, "\(fit.structures[s].structure) \(link) off by \(off)")
                }
            }
        }
    }
}
