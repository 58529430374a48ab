/// One layer to project: its base weight W (out × in) and, for the whitened SVD, the covariance of its
/// inputs over some data of the base model.
public struct ProjectionLayer: Sendable {
    /// The module path, for messages (`model.layers.3.self_attn.q_proj`).
    public let module: String
    /// Which stream of the seed random families draw this layer's bases from. `LoRAXSInitialisation`
    /// derives it from the module path (FNV-1a), so a layer's bases do not depend on which other layers
    /// are projected with it.
    public let index: Int
    public let weight: DoubleMatrix
    public let inputCovariance: InputCovariance.Estimate?

    public init(module: String, index: Int, weight: DoubleMatrix, inputCovariance: InputCovariance.Estimate? = nil) {
        self.module = module
        self.index = index
        self.weight = weight
        self.inputCovariance = inputCovariance
    }
}

/// A LoRA-XS subspace of one layer: ΔW = s·B·R·A with A (rank × in) and B (out × rank) fixed and only
/// the rank × rank core R trained between them. `core` is the projection's own (W ≈ B·core·A): a
/// family's coefficients, the identity for SVD, block-diagonal for a hybrid.
public struct ProjectedBases: Sendable, Equatable {
    public var a: DoubleMatrix
    public var core: DoubleMatrix
    public var b: DoubleMatrix

    public var rank: Int { core.rows }

    /// The core folded into A (A ← core·A, core ← I): how upstream stores every projection, and what a
    /// LoRA-XS adapter's `lora_A` holds (its trained R then starts near zero, not at this core).
    public var absorbed: ProjectedBases {
        ProjectedBases(a: core * a, core: .identity(rank), b: b)
    }

    /// B·core·A, the layer's weight as the subspace reproduces it.
    public var reconstruction: DoubleMatrix { b * (core * a) }

    /// ‖W − B·core·A‖_F / ‖W‖_F (upstream's reconstruction, the parity fixtures' number).
    public func relativeError(to weight: DoubleMatrix) -> Double {
        (weight - reconstruction).frobeniusNorm / max(weight.frobeniusNorm, .leastNormalMagnitude)
    }

    /// ‖W − P_B·W·P_A‖_F / ‖W‖_F, P_B and P_A the orthogonal projectors onto B's columns and A's rows: how
    /// close any core comes to W in this subspace. It equals `relativeError` where the core is W's own
    /// coefficients in orthonormal bases (svd, dct, rand); a hybrid's block-diagonal core adds its parts'
    /// approximations of the same W, so only this measures how good a hybrid's subspace is.
    public func reach(of weight: DoubleMatrix) throws -> Double {
        /// An orthonormal basis of the span of m's columns (the left singular vectors above round-off).
        func span(_ m: DoubleMatrix) throws -> DoubleMatrix {
            let (u, s, _) = try m.singularValueDecomposition()
            let floor = (s.first ?? 0) * Double(max(m.rows, m.columns)) * Double.ulpOfOne
            return u.selectingColumns(s.indices.filter { s[$0] > floor })
        }
        let qb = try span(b), qa = try span(a.transposed)
        let projected = qb * ((qb.transposed * weight * qa) * qa.transposed)
        return (weight - projected).frobeniusNorm / max(weight.frobeniusNorm, .leastNormalMagnitude)
    }

    /// Flips the sign of rank direction j in A's row j and B's column j together (W's reconstruction is
    /// unchanged) so that B's column j has its largest-magnitude entry positive: sklearn's `svd_flip`
    /// convention for TruncatedSVD's components, which makes the SVD families deterministic. Only for a
    /// diagonal core (a sign flip of both bases commutes with it).
    func signFixed() -> ProjectedBases {
        var out = self
        for j in 0..<rank {
            var largest = 0.0
            for i in 0..<b.rows where abs(b[i, j]) > abs(largest) { largest = b[i, j] }
            guard largest < 0 else { continue }
            for i in 0..<b.rows { out.b[i, j] = -b[i, j] }
            for k in 0..<a.columns { out.a[j, k] = -a[j, k] }
        }
        return out
    }
}

/// A family of LoRA-XS subspaces: the bases of one layer from its base weight.
public protocol SubspaceProjection: Sendable {
    /// The name upstream gives it (`svd`, `cca`, `dct`, `random`, `dct-1/2_svd`).
    var name: String { get }
    /// Whether `project` needs the layer's input covariance (the whitened SVD does).
    var needsInputCovariance: Bool { get }
    /// Whether its bases depend on a seed (rand) or on the DCT's selection rule: what a resumed run must
    /// share beyond the name.
    var usesSeed: Bool { get }
    var usesDCTSelection: Bool { get }
    func project(_ layer: ProjectionLayer, rank: Int) throws -> ProjectedBases
}

extension SubspaceProjection {
    public var needsInputCovariance: Bool { false }
    public var usesSeed: Bool { false }
    public var usesDCTSelection: Bool { false }

    /// Refuses a rank the layer cannot hold (every family needs rank ≤ min(out, in)).
    func checkRank(_ rank: Int, _ layer: ProjectionLayer) throws {
        guard rank >= 1, rank <= min(layer.weight.rows, layer.weight.columns) else {
            throw ProjectionError.rankTooLarge(
                module: layer.module, rank: rank, outFeatures: layer.weight.rows, inFeatures: layer.weight.columns)
        }
    }
}

public enum ProjectionError: Error, CustomStringConvertible, Equatable {
    case rankTooLarge(module: String, rank: Int, outFeatures: Int, inFeatures: Int)
    case unknown(name: String)
    case badHybrid(name: String, reason: String)
    case noInputCovariance(module: String)
    case singularCovariance(module: String, clamped: Int, dimension: Int, tokens: Int, rank: Int)

    public var description: String {
        switch self {
        case .rankTooLarge(let m, let r, let o, let i):
            return "\(m): rank \(r) is larger than the layer allows (its weight is \(o) × \(i); rank ≤ \(min(o, i)))"
        case .unknown(let n):
            return "unknown projection '\(n)' (known: \(ProjectionSpec.families.joined(separator: ", ")), "
                + "or a hybrid such as dct-1/2_svd)"
        case .badHybrid(let n, let reason):
            return "projection '\(n)': \(reason)"
        case .noInputCovariance(let m):
            return "\(m): the whitened SVD (wsvd/cca) needs the layer's input covariance, computed on training data; "
                + "none was given"
        case .singularCovariance(let m, let c, let d, let t, let r):
            return "\(m): the input covariance is singular: \(c) of its \(d) eigenvalues are at or below the "
                + "1e-10 clamp (from \(t) tokens), leaving \(d - c) directions for rank \(r); "
                + (t <= d ? "use more training data (at least \(d + 1) tokens)" : "choose another projection")
        }
    }
}
