import Foundation
import Loaders
import Runtime

/// A BLoB checkpoint's variational posterior: a diagonal Gaussian on each lora_A with mean lora_A and
/// standard deviation rho² (bayesian-peft's default, eps ≥ 0) or softplus(rho) (eps < 0), lora_B fixed.
/// TFB posteriors saved by `bayeval tfb --save-posterior` use the rho² convention too.
public enum BLoBPosterior {
    public enum Parameterisation: String, Sendable { case squared, softplus }

    public static func standardDeviations(_ rho: [Float], _ p: Parameterisation) -> [Float] {
        switch p {
        case .squared: rho.map { $0 * $0 }
        case .softplus: rho.map { Float(Foundation.log1p(Foundation.exp(Double($0)))) }
        }
    }

    /// Attaches the adapter's means and puts each layer's σ_A on its patch. Layers without rho stay
    /// deterministic. Returns the number of layers that carry a posterior.
    @discardableResult
    public static func attach(
        _ adapter: LoRAAdapter, to model: any AdaptedModel, parameterisation: Parameterisation
    ) throws -> Int {
        try model.attach(adapter)
        var noisy = 0
        for (i, layer) in adapter.layers.enumerated() {
            guard let rho = layer.aRho, let (linear, patch) = model.patch(forModule: layer.module) else { continue }
            linear.setSampler(
                patch: patch,
                DiagonalGaussianOnA(
                    standardDeviations: standardDeviations(rho, parameterisation),
                    key: UInt64(i + 1)))
            noisy += 1
        }
        return noisy
    }
}
