import Foundation
import Loaders

/// A posterior over one LoRA patch, as the Monte Carlo predictive sees it: for a seed, a draw of the
/// perturbations E_A (rank × in) of A and E_B (out × rank) of B, so the sampled patch is (A + E_A, B + E_B).
/// The seed is that of one (example, sample) pair; a sampler mixes in its own key, so every patch draws
/// independently and the same seed gives the same weights whatever the batch or thread count.
/// A diagonal Gaussian on A serves TFB and BLoB; a Laplace posterior draws A and B together.
public protocol PatchSampler: Sendable {
    var perturbsA: Bool { get }
    var perturbsB: Bool { get }
    /// Mixed into every seed, so that patches draw independently; also keys a patch's Flipout signs.
    var key: UInt64 { get }
    /// Writes all of E_A into `a` (rank × in) when `perturbsA`, all of E_B into `b` (out × rank) when
    /// `perturbsB`; a buffer the sampler does not perturb may be a single float and must not be touched.
    /// Called once per sequence and layer: it should not allocate, and it draws through `backend`
    /// (`standardNormal`), so the buffers may be device memory.
    func draw(
        seed: UInt64, rank: Int, inFeatures: Int, outFeatures: Int,
        a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, backend: any ComputeBackend)
}

/// Independent Gaussians on the entries of A, B fixed: standard deviation per row of A (TFB's σ/dᵢ) or
/// per entry (BLoB's σ_A).
public struct DiagonalGaussianOnA: PatchSampler {
    /// One value per row, or one per entry (rank × in).
    public let standardDeviations: [Float]
    public let key: UInt64
    public var perturbsA: Bool { true }
    public var perturbsB: Bool { false }

    public init(standardDeviations: [Float], key: UInt64) {
        self.standardDeviations = standardDeviations
        self.key = key
    }

    public func draw(
        seed: UInt64, rank: Int, inFeatures: Int, outFeatures: Int,
        a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, backend: any ComputeBackend
    ) {
        let std = standardDeviations
        precondition(
            std.count == rank || std.count == rank * inFeatures,
            "\(std.count) deviations for a \(rank)×\(inFeatures) A")
        backend.standardNormal(seed: seed ^ (key &* 0x9E37_79B9_7F4A_7C15), count: rank * inFeatures, into: a)
        backend.scale(a, rows: rank, columns: inFeatures, by: std, perRow: std.count == rank)
    }
}

/// Standard normal draws from SplitMix64 by Box–Muller: fully specified, so a script can repeat them.
public enum StandardNormal {
    /// Two independent N(0, 1) values from two uniforms, the first in (0, 1] (its log is finite).
    @inline(__always)
    public static func pair(_ rng: inout SplitMix64) -> (Float, Float) {
        let (a, b) = doublePair(&rng)
        return (Float(a), Float(b))
    }

    /// Fills `x` with draws in order, two per pair (the last pair's second is dropped for an odd count).
    public static func fill<T: BinaryFloatingPoint>(_ x: inout [T], _ rng: inout SplitMix64) {
        var i = 0
        while i < x.count {
            let (a, b) = doublePair(&rng)
            x[i] = T(a)
            if i + 1 < x.count { x[i + 1] = T(b) }
            i += 2
        }
    }

    /// The same draws in double precision (logit draws of a GLM predictive).
    @inline(__always)
    public static func doublePair(_ rng: inout SplitMix64) -> (Double, Double) {
        let u1 = Double((rng.next() >> 11) + 1) * 0x1p-53
        let u2 = Double(rng.next() >> 11) * 0x1p-53
        let radius = (-2 * Foundation.log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        return (radius * Foundation.cos(angle), radius * Foundation.sin(angle))
    }
}
