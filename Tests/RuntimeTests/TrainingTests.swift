import Foundation
import Loaders
import Testing
@testable import Runtime
import RuntimeCPU

@Suite struct TrainingTests {
    let backend = CPUBackend(threads: 2)

    /// One linear layer with one LoRA patch: the smallest thing AdapterParameters can hold.
    func oneLayer(a: [Float], b: [Float]) -> (Linear, AdapterParameters) {
        let linear = Linear(weight: Tensor(shape: [2, 2], values: [1, 0, 0, 1]))
        linear.addPatch(
            outputOffset: 0, a: Tensor(shape: [1, 2], values: a), b: Tensor(shape: [2, 1], values: b), scaling: 1)
        var names = ModuleNames()
        names.add(linear, offset: 0, module: "m")
        let p = AdapterParameters(
            targets: [.init(module: "m", linear: linear, offset: 0, core: nil)], heads: [], names: names)
        return (linear, p)
    }

    /// torch.optim.AdamW(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01) on θ = (1, 1) with
    /// gradients (0.5, 0) then (−0.25, 0) gives θ = (0.8714674, 0.9980010) (torch 2.13, printed values).
    @Test func adamWFollowsTorch() {
        let (_, p) = oneLayer(a: [1, 1], b: [0, 0])
        let opt = AdamW(parameters: p, weightDecay: 0.01)
        let a = p.parameters[0]
        for g in [Float(0.5), -0.25] {
            p.zeroGradients()
            a.gradient[0] = g
            opt.step(p, learningRate: 0.1)
        }
        // By hand: step 1 gives 0.999 − 0.1 = 0.899; step 2: m̂ = 0.02/0.19, v̂ = 0.00031225/0.001999,
        // 0.899·0.999 − 0.1·m̂/√v̂ = 0.8714674.
        #expect(abs(a.value[0] - 0.8714674) < 2e-6, "θ = \(a.value[0])")
        // The entry with zero gradient only decays: 1 · 0.999².
        #expect(abs(a.value[1] - 0.9980010) < 1e-6)
        #expect(opt.steps == 2)
    }

    @Test func linearScheduleAsTransformers() {
        let s = LinearSchedule(peak: 1e-3, totalSteps: 100, warmupRatio: 0.06)
        #expect(s.warmupSteps == 6)
        #expect(s.learningRate(step: 0) == 0)
        #expect(abs(s.learningRate(step: 3) - 5e-4) < 1e-9)
        #expect(abs(s.learningRate(step: 6) - 1e-3) < 1e-9)
        #expect(abs(s.learningRate(step: 53) - 5e-4) < 1e-9)
        #expect(s.learningRate(step: 100) == 0)
    }

    func tinyTrainer(lr: Float = 1e-2, steps: Int = 12) throws -> (Trainer, LlamaModel) {
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        let m = loaded.model
        let adapter = try NewAdapter.decoder(
            m, rank: 4, alpha: 8, targets: ["q_proj", "v_proj", "down_proj"], baseModel: nil, seed: 1)
        try m.attach(adapter)
        let params = try m.adapterParameters(adapter)
        var rng = SplitMix64(seed: 3)
        let examples = (0..<12).map { i in
            PreparedExample(
                id: "\(i)", label: i % 4,
                tokens: [1, 2, 3] + (0..<(2 + i % 3)).map { _ in Int(rng.next() % 200) + 50 },
                answerTokens: [10, 20, 30, 40])
        }
        let objective = DecoderObjective(model: m, examples: examples)
        #expect(objective.header == [1, 2, 3])
        let trainer = Trainer(
            objective: objective, parameters: params, optimizer: AdamW(parameters: params, weightDecay: 0),
            schedule: LinearSchedule(peak: lr, totalSteps: steps, warmupRatio: 0), batchSize: 4,
            accumulation: 3, maxGradientNorm: 1, seed: 9)
        return (trainer, m)
    }

    /// Full-batch training on 12 examples must fit them: the loss falls well below its starting value.
    @Test func trainingLowersTheLoss() throws {
        let (trainer, _) = try tinyTrainer(lr: 3e-2, steps: 30)
        var losses: [Double] = []
        for _ in 0..<30 { losses.append(try trainer.update().loss) }
        #expect(losses.last! < 0.5 * losses.first!, "losses \(losses.first!) → \(losses.last!)")
    }

    @Test func dataOrderCoversEveryEpochOnce() throws {
        let (trainer, _) = try tinyTrainer()
        // 12 examples, 12 per update: each update is one whole epoch, in a new order.
        let first = trainer.examples(forStep: 0), second = trainer.examples(forStep: 1)
        #expect(first.sorted() == Array(0..<12) && second.sorted() == Array(0..<12))
        #expect(first != second)
        #expect(trainer.examples(forStep: 1) == second)
    }

    @Test func nonFiniteLossStopsBeforeTheUpdate() throws {
        let (trainer, _) = try tinyTrainer()
        _ = try trainer.update()
        let b = trainer.parameters.parameters.first { $0.role == .loraB }!
        b.value[0] = .nan
        let before = trainer.parameters.parameters.map(\.value.values)
        #expect(throws: TrainingError.self) { try trainer.update() }
        #expect(trainer.optimizer.steps == 1)
        let after = trainer.parameters.parameters.map(\.value.values)
        for (x, y) in zip(before, after) { #expect(zip(x, y).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }) }
    }

    @Test func nonsenseSettingsAreRefused() throws {
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        #expect(throws: TrainingError.self) {
            try NewAdapter.decoder(loaded.model, rank: 0, alpha: 8, targets: ["q_proj"], baseModel: nil, seed: 0)
        }
        #expect(throws: TrainingError.self) {
            try NewAdapter.decoder(loaded.model, rank: 4, alpha: 8, targets: ["query"], baseModel: nil, seed: 0)
        }
        #expect(throws: TrainingError.self) {
            try NewAdapter.decoder(loaded.model, rank: 4, alpha: -1, targets: ["q_proj"], baseModel: nil, seed: 0)
        }
    }
}
