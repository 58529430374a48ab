import Foundation
import Loaders
import Testing
@testable import Posthoc
@testable import Runtime
import RuntimeCPU

/// Kronecker factors wider than `--max-factor-dim`, kept as a Nyström sketch's top eigenpairs with an even
/// remainder: checked against the dense eigendecomposition of the same factor, and end to end against the
/// dense Kronecker posterior where the sketch is exact (a factor of rank below its width).
@Suite struct LaplaceSketchTests {
    let backend = CPUBackend(threads: 2)

    /// Rows x_t = Σ_j √s_j z_tj q_j over a random orthonormal basis q with spectrum s_j = 0.7^j, so
    /// F = Σ_t x_t x_tᵀ has eigenvalues near `rows`·s_j.
    func decayingRows(dimension d: Int, rows n: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        let basis = NystromSketch.testMatrix(dimension: d, rank: d - NystromSketch.oversampling)
        var x = [Float](repeating: 0, count: n * d)
        for t in 0..<n {
            for j in 0..<d {
                let z = Float(rng.nextGaussian() * Foundation.pow(0.7, Double(j) / 2))
                for i in 0..<d { x[t * d + i] += z * basis[i * d + j] }
            }
        }
        return x
    }

    func sketched(_ x: [Float], dimension d: Int, rows n: Int, rank: Int) throws -> FactorEigen {
        let sketch = NystromSketch(
            dimension: d, rank: rank, test: NystromSketch.testMatrix(dimension: d, rank: rank))
        // In two halves with different weights, as examples of different lengths arrive.
        x.withUnsafeBufferPointer { x in
            sketch.add(x.baseAddress!, rows: n / 2, stride: d, alpha: 0.5, backend: backend)
            sketch.add(x.baseAddress! + (n / 2) * d, rows: n - n / 2, stride: d, alpha: 2, backend: backend)
        }
        let (eigen, raisedShift) = try sketch.eigen(name: "test factor")
        #expect(raisedShift == nil, "a positive semi-definite factor needs no more than the float-precision shift")
        return eigen
    }

    func dense(_ x: [Float], dimension d: Int, rows n: Int) throws -> SymmetricEigen {
        var f = [Double](repeating: 0, count: d * d)
        for t in 0..<n {
            let w = t < n / 2 ? 0.5 : 2.0
            for i in 0..<d { for j in 0..<d { f[i * d + j] += w * Double(x[t * d + i]) * Double(x[t * d + j]) } }
        }
        return try SymmetricEigen(f, dimension: d, name: "dense")
    }

    @Test func theTopEigenpairsMatchTheDenseDecomposition() throws {
        let d = 160, n = 400, r = 24
        let x = decayingRows(dimension: d, rows: n, seed: 3)
        let e = try sketched(x, dimension: d, rows: n, rank: r)
        let reference = try dense(x, dimension: d, rows: n)
        let want = Array(reference.values.reversed())
        // The leading eigenvalues to 1e-3 relative (the sketch's error is of the order of λ_k / λ_j).
        for j in 0..<10 {
            #expect(abs(e.values[j] - want[j]) <= 1e-3 * want[j], "λ_\(j): \(e.values[j]) vs \(want[j])")
        }
        // The trace is kept: the remainder spreads what the top r leave.
        let trace = want.reduce(0, +)
        #expect(abs(e.values.reduce(0, +) - trace) <= 1e-5 * trace)
        #expect(e.values[r...].allSatisfy { $0 == e.values[r] && $0 > 0 })
        // The implicit basis is orthonormal, and its first columns are the leading eigenvectors.
        let q = e.matrix()
        var worst: Float = 0
        for a in 0..<d {
            for b in 0..<d {
                var s: Float = 0
                for i in 0..<d { s += q[i * d + a] * q[i * d + b] }
                worst = max(worst, abs(s - (a == b ? 1 : 0)))
            }
        }
        #expect(worst < 1e-5, "QᵀQ off the identity by \(worst)")
        for j in 0..<5 {
            let column = d - 1 - j  // ascending in the dense decomposition
            let overlap = (0..<d).reduce(0.0) { $0 + Double(q[$1 * d + j]) * reference.vectors[$1 * d + column] }
            #expect(abs(abs(overlap) - 1) < 1e-4, "eigenvector \(j) overlaps the dense one by \(overlap)")
        }
    }

    @Test func aFactorOfLowRankIsRecoveredExactly() throws {
        let d = 96, n = 20, r = 30
        let x = decayingRows(dimension: d, rows: n, seed: 8)
        let e = try sketched(x, dimension: d, rows: n, rank: r)
        let want = Array(try dense(x, dimension: d, rows: n).values.reversed())
        for j in 0..<d {
            #expect(abs(e.values[j] - (j < r ? want[j] : 0)) <= 1e-5 * want[0], "λ_\(j)")
        }
    }

    /// A factor that is not positive semi-definite beyond float round-off (here minus a small rank-one term
    /// in the null space of a low-rank one) is decomposed with a raised shift, which is reported.
    @Test func aRaisedShiftIsReported() throws {
        let d = 96, n = 20, r = 30
        let x = decayingRows(dimension: d, rows: n, seed: 8)
        var rng = SplitMix64(seed: 4)
        let y = (0..<d).map { _ in Float(rng.nextGaussian()) }
        let factor = KroneckerFactor(
            sketch: NystromSketch(dimension: d, rank: r, test: NystromSketch.testMatrix(dimension: d, rank: r)))
        x.withUnsafeBufferPointer { factor.add($0.baseAddress!, rows: n, stride: d, alpha: 1, backend: backend) }
        y.withUnsafeBufferPointer { factor.add($0.baseAddress!, rows: 1, stride: d, alpha: -1e-3, backend: backend) }
        let e = try factor.eigen(name: "indefinite factor")
        let shift = try #require(e.raisedShift, "the float-precision shift cannot make this factor's core definite")
        #expect(shift > 1e-6 && shift < 1e-1, "relative shift \(shift)")
        #expect(e.clipped == 0 && e.eigen.values.allSatisfy { $0 >= 0 })
    }

    /// With factors of rank below the sketch's width, the sketched Kronecker posterior is the dense one:
    /// the same spectrum, marginal likelihood and functional variances, through a saved posterior too.
    @Test func aSketchedKroneckerPosteriorEqualsTheDenseOne() throws {
        let c = LaplaceConsistencyTests()
        let s = try c.setup(count: 2)
        func fit(_ maxFactorDimension: Int) throws -> KroneckerLaplace {
            let fit = try LaplaceFit.fit(
                s.objective, indices: [0, 1], parameters: s.parameters, layout: s.layout,
                settings: .init(structures: [.kron], maxFactorDimension: maxFactorDimension, factorRank: 40),
                backend: backend)
            return try #require(fit.structures[0] as? KroneckerLaplace)
        }
        let dense = try fit(4096), sketched = try fit(48)
        // The 64-wide factors are sketched; the tiny model's 32-wide (v_proj's output) and rank-wide are not.
        let kinds = sketched.blocks.flatMap { [$0.output.basis, $0.input.basis] }.map {
            if case .reflectors = $0 { 1 } else { 0 }
        }
        #expect(kinds.reduce(0, +) >= 3)
        #expect(sketched.raisedShifts.isEmpty, "low-rank factors need no more than the float-precision shift")
        let scale = dense.spectrum.max()!
        for (a, b) in zip(dense.blocks, sketched.blocks) {
            let da = a.output.values.flatMap { g in a.input.values.map { g * $0 } }.sorted()
            let sb = b.output.values.flatMap { g in b.input.values.map { g * $0 } }.sorted()
            let worst = zip(da, sb).map { abs($0 - $1) }.max()!
            #expect(worst <= 1e-5 * scale, "\(a.block.module) \(a.block.role): spectrum off by \(worst)")
        }
        let rows = c.jacobians(s)
        for prior in [0.3, 4.0] {
            let want = dense.functionalVariance(rows[1].j, prior: prior)
            let got = sketched.functionalVariance(rows[1].j, prior: prior)
            for k in want.indices {
                for l in want.indices {
                    #expect(abs(got[k][l] - want[k][l]) <= 1e-4 * abs(want[k][k]), "f_var[\(k)][\(l)] at δ \(prior)")
                }
            }
            let ml = { (k: KroneckerLaplace) in
                MarginalLikelihood(spectrum: k.spectrum, loss: 1, squaredNorm: s.layout.squaredNorm)
                    .logMarginalLikelihood(prior: prior)
            }
            #expect(abs(ml(sketched) - ml(dense)) <= 1e-4 * abs(ml(dense)))
        }
        // A weight sample's offset from the MAP lies in θ's space and has the posterior's scale: the implicit
        // basis maps back without loss (U·Uᵀ·θ = θ).
        let theta = s.layout.values
        let back = sketched.fromEigenbasis(sketched.toEigenbasis(theta, rows: 1))
        let error = zip(theta, back).map { abs($0 - $1) }.max()!
        #expect(error <= 1e-5 * theta.map(abs).max()!)
    }
}
