import Foundation
import Loaders
import Testing
@testable import Posthoc
@testable import Runtime
import RuntimeCPU

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
func fixture(_ relative: String) -> String { packageRoot.appendingPathComponent("fixtures/" + relative).path }

@Suite struct TFBReparametrisationTests {
    let adapter = try! LoRAAdapter.load(directory: fixture("models/tiny-llama3-adapter"))

    func product(_ b: [Float], _ a: [Float], out m: Int, rank r: Int, in n: Int) -> [Double] {
        var p = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for k in 0..<r { let x = Double(b[i * r + k]); for j in 0..<n { p[i * n + j] += x * Double(a[k * n + j]) } }
        }
        return p
    }

    @Test func preservesTheProductBA() throws {
        for l in adapter.layers {
            let t = try TFBLayer(l)
            let before = product(l.b, l.a, out: l.outFeatures, rank: l.rank, in: l.inFeatures)
            let after = product(t.b, t.a, out: l.outFeatures, rank: l.rank, in: l.inFeatures)
            let worst = zip(before, after).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5, "\(l.module): max |BA − B'A'| = \(worst)")
        }
    }

    @Test func bPrimeHasOrthogonalColumnsScaledBySingularValues() throws {
        let t = try TFBLayer(adapter.layers[0])
        #expect(t.singularValues == t.singularValues.sorted(by: >))
        for p in 0..<t.rank {
            for q in 0..<t.rank {
                var dot = 0.0
                for i in 0..<t.outFeatures { dot += Double(t.b[i * t.rank + p]) * Double(t.b[i * t.rank + q]) }
                let want = p == q ? t.singularValues[p] * t.singularValues[p] : 0
                #expect(abs(dot - want) <= 1e-4 * max(1, want))
            }
        }
        #expect(
            t.standardDeviations(sigma: 0.01).enumerated().allSatisfy {
                abs(Double($1) - 0.01 / (t.singularValues[$0] + 1e-6)) < 1e-9
            })
    }

    /// Z = diag(d)·E must be i.i.d. N(0, σ²): the weight noise B'E = U·Z is isotropic in B's column space.
    @Test func sampledNoiseHasTheStatedCovariance() throws {
        let t = try TFBLayer(adapter.layers[1])
        let sigma = 0.02
        let std = t.standardDeviations(sigma: sigma)
        let n = t.inFeatures, r = t.rank, draws = 400
        var sums = [Double](repeating: 0, count: r), squares = [Double](repeating: 0, count: r)
        var cross = 0.0
        let e = UnsafeMutablePointer<Float>.allocate(capacity: r * n)
        defer { e.deallocate() }
        for s in 0..<draws {
            DiagonalGaussianOnA(standardDeviations: std, key: 7).draw(
                seed: UInt64(s), rank: r, inFeatures: n, outFeatures: 0,
                a: e, b: e, backend: CPUBackend(threads: 1))
            for i in 0..<r {
                for j in 0..<n {
                    let z = Double(e[i * n + j]) * t.singularValues[i]
                    sums[i] += z; squares[i] += z * z
                }
            }
            for j in 0..<n { cross += Double(e[j]) * t.singularValues[0] * Double(e[n + j]) * t.singularValues[1] }
        }
        let count = Double(draws * n)
        for i in 0..<r {
            let mean = sums[i] / count, variance = squares[i] / count - mean * mean
            // 25 600 draws per row: the sample variance is within 3% of σ² with overwhelming probability.
            #expect(abs(mean) < 4 * sigma / count.squareRoot(), "row \(i) mean \(mean)")
            #expect(abs(variance / (sigma * sigma) - 1) < 0.03, "row \(i) variance \(variance)")
        }
        #expect(
            abs(cross / count) < 4 * sigma * sigma / count.squareRoot(), "rows 0 and 1 correlated: \(cross / count)")
    }
}

@Suite struct SigmaSearchTests {
    @Test func monotoneCriterionFindsTheBoundary() {
        // value(σ) = σ / 0.006: the tolerance 1 is met exactly up to σ = 0.006.
        let r = SigmaSearch(steps: 12, tolerance: 1).run { $0 / 0.006 }
        #expect(r.anyAccepted && r.sigma <= 0.006 && r.sigma > 0.006 - 0.014 / 4096 * 2)
        #expect(r.steps.count == 12 && r.steps.allSatisfy { $0.accepted == ($0.sigma <= 0.006) })
    }

    @Test func upstreamRuleAgainstAHandTrace() {
        // Bisection of [0.001, 0.015], violation above 0.006: mids 0.008 ✗, 0.0045 ✓, 0.00625 ✗, 0.005375 ✓,
        // 0.0058125 ✓. bayesian-peft returns the last violating mid, 0.00625 (a σ its OOD scripts use).
        let criterion: (Double) -> Double = { $0 > 0.006 ? 1 : 0 }
        let upstream = SigmaSearch(steps: 5, tolerance: 0.5, rule: .upstream).run(criterion)
        #expect(
            zip(upstream.steps.map(\.sigma), [0.008, 0.0045, 0.00625, 0.005375, 0.0058125]).allSatisfy {
                abs($0 - $1) < 1e-15
            })
        #expect(upstream.steps.map(\.accepted) == [false, true, false, true, true])
        #expect(abs(upstream.sigma - 0.00625) < 1e-15)
        #expect(abs(SigmaSearch(steps: 5, tolerance: 0.5).run(criterion).sigma - 0.0058125) < 1e-15)
    }

    @Test func neverAndAlwaysViolated() {
        let never = SigmaSearch(steps: 5, tolerance: 1).run { _ in 0 }
        #expect(never.anyAccepted && never.sigma == never.steps.last!.sigma && never.sigma > 0.0145)
        #expect(SigmaSearch(steps: 5, tolerance: 1, rule: .upstream).run { _ in 0 }.sigma == 0.015)
        let always = SigmaSearch(steps: 5, tolerance: 1).run { _ in 2 }
        #expect(!always.anyAccepted && always.sigma == 0.001)
        #expect(SigmaSearch(steps: 5, tolerance: 1, rule: .upstream).run { _ in 2 }.sigma == always.steps.last!.sigma)
        #expect(!SigmaSearch(steps: 3, tolerance: 1).run { _ in .nan }.anyAccepted)
    }

    /// The corrected search brackets itself: a boundary below σ_min is found by stepping down by 4, one
    /// above σ_max by stepping up, then log σ is bisected; the fixed upstream bracket cannot leave [min, max].
    @Test(arguments: [2e-5, 0.006, 0.2]) func expandingBracketFindsBoundariesOutsideTheRange(_ boundary: Double) {
        let search = SigmaSearch(steps: 12, tolerance: 1, bracket: .expanding)
        let r = search.run { $0 / boundary }
        #expect(r.anyAccepted)
        #expect(r.sigma <= boundary && r.sigma > boundary * 0.99, "σ* \(r.sigma) for a boundary at \(boundary)")
        #expect(r.steps.allSatisfy { $0.accepted == ($0.sigma <= boundary) })
        if boundary < 0.001 {
            // 0.001 ✗, then 0.00025, 6.25e-5 ✗ and 1.5625e-5 ✓ before bisection.
            #expect(r.steps.prefix(4).map(\.accepted) == [false, false, false, true])
            #expect(abs(r.steps[3].sigma - 0.001 / 64) < 1e-18)
        }
        let fixed = SigmaSearch(steps: 12, tolerance: 1, rule: .upstream).run { $0 / boundary }
        #expect(fixed.steps.allSatisfy { $0.sigma >= 0.001 && $0.sigma <= 0.015 })
    }

    @Test func expandingBracketStopsAtItsLimits() {
        let always = SigmaSearch(steps: 5, tolerance: 1, bracket: .expanding).run { _ in 2 }
        // Nothing accepted: the smallest σ tried (0.001 / 4⁴), never an untried one.
        #expect(!always.anyAccepted && always.sigma == always.steps.last!.sigma)
        #expect(abs(always.sigma - 0.001 / 256) < 1e-18 && always.steps.count == 5)
        let never = SigmaSearch(steps: 5, tolerance: 1, bracket: .expanding).run { _ in 0 }
        #expect(never.anyAccepted && never.sigma <= 1 && never.sigma > 0.25)
        #expect(!SigmaSearch(steps: 3, tolerance: 1, bracket: .expanding).run { _ in .nan }.anyAccepted)
    }

    @Test func widthStopEndsEarly() {
        let r = SigmaSearch(steps: 20, tolerance: 1, minimumWidth: 5e-4).run { $0 / 0.006 }
        #expect(r.steps.count == 5)
    }
}

@Suite struct TFBPredictiveTests {
    let backend = CPUBackend(threads: 2)

    func setup() throws -> (LlamaModel, TFBPosterior, [PreparedExample], JSONValue) {
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        let adapter = try LoRAAdapter.load(
            directory: fixture("models/tiny-llama3-adapter"), baseShapes: loaded.parameterShapes)
        let posterior = try TFBPosterior(adapter: adapter, model: loaded.model, sigma: 0)
        let ref = try JSONValue.parse(file: fixture("models/tiny-llama3-reference.json"))
        let ids = ref["answer_token_ids"]?.array?.compactMap(\.int) ?? []
        let examples = (ref["sequences"]?.array ?? []).enumerated().map { i, s in
            PreparedExample(id: "\(i)", label: 0, tokens: s.array?.compactMap(\.int) ?? [], answerTokens: ids)
        }
        return (loaded.model, posterior, examples, ref)
    }

    /// A posterior that cannot be placed is refused before the model changes: the adapter already attached
    /// stays, whole.
    @Test func refusedPosteriorLeavesTheModelAlone() throws {
        let (model, posterior, _, _) = try setup()
        posterior.setSigma(0.01)
        let before = model.allLinears.map(\.patches.count)
        let good = try #require(posterior.layers.first)
        let stray = LoRALayerWeights(
            module: "model.layers.9.self_attn.q_proj", rank: good.rank, inFeatures: good.inFeatures,
            outFeatures: good.outFeatures, scaling: good.scaling, a: good.a, b: good.b)
        let config = AdapterConfig(rank: good.rank, alpha: 1, targets: ["q_proj"], taskType: nil, baseModel: nil)
        let adapter = LoRAAdapter.inMemory(config: config, layers: [stray], savedParameters: [])
        #expect(throws: LoadError.self) { _ = try TFBPosterior(adapter: adapter, model: model, sigma: 0) }
        #expect(model.allLinears.map(\.patches.count) == before)
        #expect(model.allLinears.flatMap(\.patches).allSatisfy { $0.sampler != nil })
    }

    /// The posterior is written against any adapted model, and keeps the adapter's saved modules: on a BERT
    /// classifier whose adapter saves its head, σ = 0 gives transformers + peft's adapter logits.
    @Test func encoderPosteriorKeepsTheSavedHead() throws {
        let ref = try JSONValue.parse(file: fixture("models/tiny-bert-reference.json"))
        let loaded = try ModelLoader.loadEncoder(path: fixture("models/tiny-bert"), backend: backend)
        let adapter = try LoRAAdapter.load(
            directory: fixture("models/tiny-bert-adapter"), baseShapes: loaded.parameterShapes)
        let posterior = try TFBPosterior(adapter: adapter, model: loaded.model, sigma: 0)
        #expect(posterior.layers.count == adapter.layers.count)
        let seqs = (ref["sequences"]?.array ?? []).map { $0.array?.compactMap(\.int) ?? [] }
        let types = zip(ref["batch"]?["token_type_ids"]?.array ?? [], seqs).map {
            Array(($0.array?.compactMap(\.int) ?? []).prefix($1.count))
        }
        let logits = loaded.model.classify(seqs, tokenTypes: types).values
        let want = (ref["adapter_applied"]?["logits"]?.array ?? []).flatMap { $0.array?.compactMap(\.double) ?? [] }
        #expect(logits.count == want.count)
        for (x, y) in zip(logits, want) { #expect(abs(Double(x) - y) <= 1e-4 * max(1, abs(y)), "\(x) vs \(y)") }
    }

    @Test func zeroSigmaIsTheMAPAdapter() throws {
        let (model, _, examples, ref) = try setup()
        let ids = examples[0].answerTokens
        let logits = model.forward(PackedBatch(examples.map(\.tokens)), output: .lastPositionLogits(ids: ids)).values
        let want = (ref["adapter_applied"]?.array ?? []).flatMap {
            ($0["answer_logits"]?.array ?? []).compactMap(\.double)
        }
        #expect(zip(logits, want).allSatisfy { abs(Double($0) - $1) <= 1e-4 * max(1, abs($1)) })
    }

    /// Common random numbers: every σ candidate scales the same standard-normal draws, so the sampled
    /// predictive moves smoothly with σ and the criterion is comparable across candidates.
    @Test func sigmaCandidatesShareTheirDraws() throws {
        let backend = CPUBackend(threads: 1)
        let rank = 2, inFeatures = 5
        let one = backend.allocate(count: rank * inFeatures), three = backend.allocate(count: rank * inFeatures)
        let unused = backend.allocate(count: 1)
        for (sampler, buffer) in [
            (DiagonalGaussianOnA(standardDeviations: [0.01, 0.02], key: 3), one),
            (DiagonalGaussianOnA(standardDeviations: [0.03, 0.06], key: 3), three),
        ] {
            sampler.draw(
                seed: 77, rank: rank, inFeatures: inFeatures, outFeatures: 4, a: buffer.pointer, b: unused.pointer,
                backend: backend)
        }
        for i in 0..<(rank * inFeatures) {
            #expect(abs(three.pointer[i] - 3 * one.pointer[i]) <= 1e-6 * abs(three.pointer[i]) + 1e-12)
        }
    }

    @Test func samplesAreSeededPerExampleAndDifferFromTheMean() throws {
        let (model, posterior, examples, _) = try setup()
        posterior.setSigma(0.5)
        let mc = MonteCarloPredictive(model: model, samples: 6, seed: 42, sequencesPerBatch: 12)
        let a = mc.probabilities(examples, indices: [0, 1, 2])
        let b = MonteCarloPredictive(model: model, samples: 6, seed: 42, sequencesPerBatch: 18).probabilities(
            examples, indices: [0, 1, 2])
        // Same seeds, other batching: the same numbers.
        for (x, y) in zip(a, b) { #expect(zip(x!, y!).allSatisfy { abs($0 - $1) < 1e-6 }) }
        // Alone, example 2 keeps its seeds (they depend on its index, not on its batch).
        let alone = mc.probabilities([examples[2]], indices: [2])
        #expect(zip(alone[0]!, a[2]!).allSatisfy { abs($0 - $1) < 1e-6 })
        let other = MonteCarloPredictive(model: model, samples: 6, seed: 43, sequencesPerBatch: 24).probabilities(
            examples, indices: [0, 1, 2])
        #expect(zip(other[0]!, a[0]!).contains { abs($0 - $1) > 1e-4 })
        posterior.setSigma(0)
        let mean = MonteCarloPredictive(model: model, samples: 1, seed: 42, sequencesPerBatch: 4).probabilities(
            examples, indices: [0, 1, 2])
        #expect(zip(mean[0]!, a[0]!).contains { abs($0 - $1) > 1e-4 })
        #expect(a.allSatisfy { abs($0!.reduce(0, +) - 1) < 1e-9 })
    }

    /// Flipout (`tfb --upstream`): sample k of the examples of one group of `examplesPerCall` stable indices
    /// shares one call seed (one E), other groups and other samples do not, and no call seed is an example's
    /// seed; the predictions still do not depend on batching, and they differ from real weight samples.
    @Test func flipoutCallsGroupExamplesBySampleAndIndex() throws {
        let (model, posterior, examples, _) = try setup()
        let mc = MonteCarloPredictive(
            model: model, samples: 3, seed: 42, sequencesPerBatch: 6, flipoutExamplesPerCall: 50)
        #expect(mc.callSeed(example: 0, sample: 1) == mc.callSeed(example: 49, sample: 1))
        #expect(mc.callSeed(example: 49, sample: 1) != mc.callSeed(example: 50, sample: 1))
        #expect(mc.callSeed(example: 0, sample: 1) != mc.callSeed(example: 0, sample: 2))
        let exampleSeeds = Set((0..<200).flatMap { i in (0..<3).map { mc.seed(example: i, sample: $0) } })
        #expect(
            (0..<200).allSatisfy { i in
                (0..<3).allSatisfy { !exampleSeeds.contains(mc.callSeed(example: i, sample: $0)!) }
            })
        #expect(
            MonteCarloPredictive(model: model, samples: 3, seed: 42, sequencesPerBatch: 6).callSeed(
                example: 0, sample: 0) == nil)

        posterior.setSigma(0.5)
        let a = mc.probabilities(examples, indices: [0, 1, 2])
        let b = MonteCarloPredictive(
            model: model, samples: 3, seed: 42, sequencesPerBatch: 3, flipoutExamplesPerCall: 50
        ).probabilities(examples, indices: [0, 1, 2])
        for (x, y) in zip(a, b) { #expect(zip(x!, y!).allSatisfy { abs($0 - $1) < 1e-6 }) }
        let weights = MonteCarloPredictive(model: model, samples: 3, seed: 42, sequencesPerBatch: 6).probabilities(
            examples, indices: [0, 1, 2])
        #expect(zip(weights[0]!, a[0]!).contains { abs($0 - $1) > 1e-4 })
        posterior.setSigma(0)
    }
}
