import Foundation

/// `dct`: a fixed frequency basis. Wᵀ's rows (input features) and columns (outputs) are first sorted by
/// ascending L1 sums so that neighbouring entries are alike, then transformed by the orthonormal 2-D
/// DCT-II, C = D_in·P·Wᵀ·Q·D_outᵀ; `rank` input and `rank` output frequencies are kept (those of the
/// largest energy Σ C², or the lowest ones with `.topLeft`), in increasing order, and the
/// permutations are folded back into the bases: A's rows are DCT rows over the input features, B's
/// columns DCT rows over the outputs, and the core is C's selected block (transposed to W's side).
public struct DCTProjection: SubspaceProjection {
    public enum Selection: String, Sendable, CaseIterable {
        case energy
        case topLeft = "top-left"
    }

    public let selection: Selection
    public init(selection: Selection = .energy) { self.selection = selection }
    public var usesDCTSelection: Bool { true }
    public var name: String { "dct" }

    /// The orthonormal DCT-II matrix: D[k, j] = √(2/N)·cos(πk(2j+1)/2N), its first row √(1/N).
    public static func matrix(_ n: Int) -> DoubleMatrix {
        var d = DoubleMatrix(rows: n, columns: n)
        let scale = (2 / Double(n)).squareRoot(), first = (1 / Double(n)).squareRoot()
        for j in 0..<n { d[0, j] = first }
        for k in 1..<max(n, 1) {
            for j in 0..<n { d[k, j] = scale * cos(Double.pi * Double(k) * Double(2 * j + 1) / Double(2 * n)) }
        }
        return d
    }

    public func project(_ layer: ProjectionLayer, rank: Int) throws -> ProjectedBases {
        try checkRank(rank, layer)
        let m = layer.weight.transposed  // in × out, upstream's orientation
        let rowOrder = Self.ascendingL1(of: m, alongRows: true), columnOrder = Self.ascendingL1(of: m, alongRows: false)
        let sorted = m.selectingRows(rowOrder).selectingColumns(columnOrder)
        let dIn = Self.matrix(m.rows), dOut = Self.matrix(m.columns)
        let coefficients = dIn * sorted * dOut.transposed
        let rows: [Int], columns: [Int]
        switch selection {
        case .energy:
            rows = Self.largestEnergy(coefficients, rank: rank, alongRows: true)
            columns = Self.largestEnergy(coefficients, rank: rank, alongRows: false)
        case .topLeft:
            rows = Array(0..<rank)
            columns = Array(0..<rank)
        }
        // Sorted space: Wᵀ_sorted ≈ D_in[rows]ᵀ · C[rows, cols] · D_out[cols]; feature i of the sorted
        // rows is feature rowOrder[i] of W, so the bases' entries go back to those places.
        let aSorted = dIn.selectingRows(rows), bSorted = dOut.selectingRows(columns)
        var a = DoubleMatrix(rows: rank, columns: m.rows), b = DoubleMatrix(rows: m.columns, columns: rank)
        for k in 0..<rank {
            for (i, feature) in rowOrder.enumerated() { a[k, feature] = aSorted[k, i] }
            for (j, output) in columnOrder.enumerated() { b[output, k] = bSorted[k, j] }
        }
        let core = coefficients.selectingRows(rows).selectingColumns(columns).transposed
        return ProjectedBases(a: a, core: core, b: b)
    }

    /// Indices of the rows (or columns) of `m` by ascending Σ|·| (ties by index).
    static func ascendingL1(of m: DoubleMatrix, alongRows: Bool) -> [Int] {
        let n = alongRows ? m.rows : m.columns
        var sums = [Double](repeating: 0, count: n)
        for i in 0..<m.rows { for j in 0..<m.columns { sums[alongRows ? i : j] += abs(m[i, j]) } }
        return (0..<n).sorted { (sums[$0], $0) < (sums[$1], $1) }
    }

    /// The `rank` rows (or columns) of largest Σ C², in increasing index order.
    static func largestEnergy(_ c: DoubleMatrix, rank: Int, alongRows: Bool) -> [Int] {
        let n = alongRows ? c.rows : c.columns
        var energy = [Double](repeating: 0, count: n)
        for i in 0..<c.rows { for j in 0..<c.columns { energy[alongRows ? i : j] += c[i, j] * c[i, j] } }
        return (0..<n).sorted { energy[$0] != energy[$1] ? energy[$0] > energy[$1] : $0 < $1 }.prefix(rank).sorted()
    }
}
