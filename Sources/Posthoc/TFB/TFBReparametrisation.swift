import Loaders

/// One LoRA layer in the basis TFB puts its Gaussian in: B = U·diag(d)·Vᵀ (thin SVD) gives B' = U·diag(d)
/// and A' = Vᵀ·A, so B'A' = BA exactly. The posterior is Gaussian on A' with standard deviation σ/dᵢ on
/// row i (B' fixed), which makes the weight-space noise B'·E = U·Z an isotropic Gaussian of scale σ in the
/// column space of B.
public struct TFBLayer: Sendable, Equatable {
    public let module: String
    public let rank: Int
    public let inFeatures: Int
    public let outFeatures: Int
    public let scaling: Double
    public let a: [Float]  // rank × in, A' = Vᵀ A
    public let b: [Float]  // out × rank, B' = U diag(d)
    public let singularValues: [Double]  // d, descending

    /// bayesian-peft divides by dᵢ + 1e-6 so a zero singular value (an unused rank) gives a finite, huge
    /// standard deviation instead of a division by zero; kept for parity.
    public static let singularValueFloor = 1e-6

    /// Per-row standard deviation of the noise on A' for a given σ.
    public func standardDeviations(sigma: Double) -> [Float] {
        singularValues.map { Float(sigma / ($0 + Self.singularValueFloor)) }
    }

    public init(_ layer: LoRALayerWeights) throws {
        let r = layer.rank, n = layer.inFeatures, m = layer.outFeatures
        // LoRA-XS: the core sits between A and B; folded in first (A ← R·A), as the runtime folds it.
        let a = layer.effectiveA.map(Double.init)
        let svd = try ThinSVD(layer.b.map(Double.init), rows: m, columns: r)
        var bPrime = [Float](repeating: 0, count: m * r)
        for i in 0..<m { for k in 0..<r { bPrime[i * r + k] = Float(svd.u[i * r + k] * svd.s[k]) } }
        var aPrime = [Float](repeating: 0, count: r * n)
        for k in 0..<r {
            for l in 0..<r {
                let v = svd.vt[k * r + l]
                for j in 0..<n { aPrime[k * n + j] += Float(v * a[l * n + j]) }
            }
        }
        module = layer.module
        rank = r
        inFeatures = n
        outFeatures = m
        scaling = layer.scaling
        self.a = aPrime
        b = bPrime
        singularValues = svd.s
    }
}
