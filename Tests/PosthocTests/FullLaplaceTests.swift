import Foundation
import Loaders
import Testing
@testable import Posthoc
@testable import Runtime
import RuntimeCPU

/// The full GGN from fewer than P/4 gradient rows (the SVD of the rows, a basis of reflectors)
/// against the same GGN summed densely (the rows plus P zero rows, which add nothing to H but push the
/// accumulator onto its dense Gram path), and against a dense solve.
@Suite struct FullLaplaceTests {
    let backend = CPUBackend(threads: 2)
    static let P = 40, M = 9

    func rows(_ count: Int, seed: UInt64) -> [[Float]] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in (0..<Self.P).map { _ in Float(rng.nextGaussian()) } }
    }

    func structures() throws -> (lowRank: FullLaplace, dense: FullLaplace, rows: [[Float]]) {
        let g = rows(Self.M, seed: 11)
        let low = FullGGNAccumulator(dimension: Self.P, backend: backend)
        low.add(Array(g[0..<4]))
        low.add(Array(g[4...]))
        let dense = FullGGNAccumulator(dimension: Self.P, backend: backend)
        dense.add(g)
        dense.add([[Float]](repeating: [Float](repeating: 0, count: Self.P), count: Self.P))
        return (try low.structure(), try dense.structure(), g)
    }

    @Test func fewerRowsThanParametersGiveTheSameSpectrumExactly() throws {
        let (low, dense, _) = try structures()
        guard case .reflectors(_, let tau) = low.eigen.basis else {
            Issue.record("M < P rows should give a basis of reflectors")
            return
        }
        #expect(tau.count == Self.M)
        guard case .dense = dense.eigen.basis else {
            Issue.record("P or more rows should give a dense basis")
            return
        }
        let a = low.spectrum.sorted(), b = dense.spectrum.sorted()
        let scale = b.last!
        #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * scale }, "\(a) vs \(b)")
        #expect(low.clippedEigenvalues == 0)
    }

    /// J·(H + δI)⁻¹·Jᵀ from the reflector basis equals a Cholesky solve with H = GᵀG, and the basis is
    /// orthonormal (into the eigenbasis and back is the identity).
    @Test func functionalVarianceAndRotationsMatchADenseSolve() throws {
        let (low, _, g) = try structures()
        let P = Self.P, δ = 0.3
        var precision = [[Double]](repeating: [Double](repeating: 0, count: P), count: P)
        for r in g { for i in 0..<P { for j in 0..<P { precision[i][j] += Double(r[i]) * Double(r[j]) } } }
        for i in 0..<P { precision[i][i] += δ }
        let solve = CholeskySolve(precision)
        let jacobian = rows(3, seed: 5)
        let got = low.functionalVariance(jacobian, prior: δ)
        for k in 0..<3 {
            let x = solve(jacobian[k].map(Double.init))
            for m in 0..<3 {
                let want = zip(jacobian[m], x).reduce(0) { $0 + Double($1.0) * $1.1 }
                #expect(abs(got[k][m] - want) <= 1e-4 * max(1, abs(want)), "(\(k), \(m)): \(got[k][m]) vs \(want)")
            }
        }
        let v = jacobian[0]
        let back = low.fromEigenbasis(low.toEigenbasis(v, rows: 1))
        #expect(zip(back, v).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    /// No gradient rows: H = 0, so J·(H + δ)⁻¹·Jᵀ = J·Jᵀ/δ.
    @Test func noRowsLeaveOnlyThePrior() throws {
        let none = try FullGGNAccumulator(dimension: Self.P, backend: backend).structure()
        #expect(none.spectrum.allSatisfy { $0 == 0 })
        let j = rows(2, seed: 3), δ = 2.0
        let got = none.functionalVariance(j, prior: δ)
        for k in 0..<2 {
            for m in 0..<2 {
                let want = zip(j[k], j[m]).reduce(0) { $0 + Double($1.0) * Double($1.1) } / δ
                #expect(abs(got[k][m] - want) <= 1e-5 * max(1, abs(want)))
            }
        }
    }

    /// The reflector basis is saved as `full.reflectors` / `full.tau` and read back unchanged.
    @Test func aLowRankBasisRoundTripsThroughTheFile() throws {
        let (low, _, _) = try structures()
        var writer = SafeTensorsWriter()
        try writer.add(low.eigen, name: "full")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("full-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writer.write(to: path)
        let file = try SafeTensorsFile(path: path)
        #expect(file.info("full.reflectors") != nil && file.info("full.vectors") == nil)
        let read = try file.factor("full", dimension: Self.P)
        #expect(read.values == low.eigen.values && read.matrix() == low.eigen.matrix())
    }
}
