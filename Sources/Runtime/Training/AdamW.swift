import Foundation
import Loaders

/// AdamW as torch.optim.AdamW computes it: decoupled weight decay (θ ← θ·(1 − lr·λ)), then the
/// bias-corrected Adam step θ ← θ − lr · m̂ / (√v̂ + ε).
public final class AdamW: @unchecked Sendable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var weightDecay: Float
    /// Updates taken so far (the bias correction's t).
    public private(set) var steps = 0
    /// First and second moments, one pair per parameter, in `AdapterParameters.parameters` order.
    let m: [Tensor]
    let v: [Tensor]

    public init(parameters: AdapterParameters, weightDecay: Float) {
        self.weightDecay = weightDecay
        m = parameters.parameters.map { Tensor(shape: $0.value.shape) }
        v = parameters.parameters.map { Tensor(shape: $0.value.shape) }
    }

    public func step(_ parameters: AdapterParameters, learningRate lr: Float) {
        steps += 1
        let c1 = 1 - Foundation.pow(Double(beta1), Double(steps)), c2 = 1 - Foundation.pow(Double(beta2), Double(steps))
        let stepSize = Float(Double(lr) / c1), root2 = Float(c2.squareRoot())
        let decay = 1 - lr * weightDecay
        for (i, p) in parameters.parameters.enumerated() {
            let x = p.value.pointer, g = p.gradient.pointer, m = m[i].pointer, v = v[i].pointer
            for j in 0..<p.value.count {
                x[j] *= decay
                m[j] = beta1 * m[j] + (1 - beta1) * g[j]
                v[j] = beta2 * v[j] + (1 - beta2) * g[j] * g[j]
                x[j] -= stepSize * m[j] / (v[j].squareRoot() / root2 + epsilon)
            }
        }
        parameters.valuesChanged()
    }

    /// The moments as safetensors entries (`<key>.exp_avg`, `<key>.exp_avg_sq`) and the step count.
    public func state(
        _ parameters: AdapterParameters
    ) -> (tensors: [(key: String, shape: [Int], values: [Float])], steps: Int) {
        var out: [(String, [Int], [Float])] = []
        for (i, p) in parameters.parameters.enumerated() {
            out.append((p.key + ".exp_avg", p.value.shape, m[i].values))
            out.append((p.key + ".exp_avg_sq", p.value.shape, v[i].values))
        }
        return (out, steps)
    }

    /// Restores moments saved by `state`; every parameter must be present with its shape.
    public func restore(from file: SafeTensorsFile, path: String, steps: Int, parameters: AdapterParameters) throws {
        for (i, p) in parameters.parameters.enumerated() {
            for (suffix, target) in [(".exp_avg", m[i]), (".exp_avg_sq", v[i])] {
                let key = p.key + suffix
                guard let info = file.info(key) else {
                    throw LoadError(
                        .missingKey, file: path, item: key, "the optimizer state has no moment for this parameter")
                }
                guard info.shape == p.value.shape else {
                    throw LoadError(
                        .shapeMismatch, file: path, item: key, "shape \(info.shape), the parameter is \(p.value.shape)")
                }
                let values = try file.floats(key)
                guard values.allSatisfy(\.isFinite) else {
                    throw LoadError(
                        .invalidValue, file: path, item: key, "the optimizer state holds NaN or infinite values")
                }
                _ = target.storage.update(fromContentsOf: values)
            }
        }
        self.steps = steps
    }
}

/// Linear warm-up then linear decay to zero, as transformers' `get_linear_schedule_with_warmup`: update
/// `step` (0-based) uses lr · step/warmup during warm-up, then lr · (total − step)/(total − warmup).
public struct LinearSchedule: Sendable {
    public let peak: Float
    public let totalSteps: Int
    public let warmupSteps: Int

    /// `warmupRatio` of the updates warm up, rounded up (transformers' `get_warmup_steps`).
    public init(peak: Float, totalSteps: Int, warmupRatio: Double) {
        self.peak = peak
        self.totalSteps = totalSteps
        warmupSteps = Int((Double(totalSteps) * warmupRatio).rounded(.up))
    }

    public func learningRate(step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step) / Float(max(1, warmupSteps)) }
        return peak * max(0, Float(totalSteps - step) / Float(max(1, totalSteps - warmupSteps)))
    }
}
