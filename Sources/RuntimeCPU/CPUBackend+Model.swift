import Foundation
import Loaders
import Runtime

/// The parts of a model's pass that are not matrix products or norms: memory, gathers, RoPE, activations
/// and noise, as threaded host loops.
extension CPUBackend {
    public func allocate(count: Int) -> TensorStorage { .host(count: count) }

    public func resident(_ tensor: Tensor) -> Tensor { tensor }

    public func gatherRows(
        _ table: UnsafePointer<Float>, width: Int, rows: [Int], into out: UnsafeMutablePointer<Float>
    ) {
        for (i, r) in rows.enumerated() { (out + i * width).update(from: table + r * width, count: width) }
    }

    public func copy(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        y.update(from: x, count: count)
    }

    public func zero(_ x: UnsafeMutablePointer<Float>, count: Int) { x.update(repeating: 0, count: count) }

    public func addRows(_ x: UnsafePointer<Float>, width: Int, rows: [Int], into table: UnsafeMutablePointer<Float>) {
        for (i, r) in rows.enumerated() {
            let t = table + r * width, xi = x + i * width
            for j in 0..<width { t[j] += xi[j] }
        }
    }

    public func rotate(
        _ x: UnsafeMutablePointer<Float>, stride: Int, positions: [Int], blocks: [(offset: Int, heads: Int)],
        rotary: RotaryEmbedding, inverse: Bool
    ) {
        nonisolated(unsafe) let x = x
        let blocks = blocks.map { [$0.offset, $0.heads] }
        rotary.withTables { cos, sin in
            nonisolated(unsafe) let (cos, sin) = (cos, sin)
            let rows = positions.count, chunk = 64
            parallelFor((rows + chunk - 1) / chunk) { c in
                for t in (c * chunk)..<min(rows, (c + 1) * chunk) {
                    for block in blocks {
                        rotary.apply(
                            x + t * stride + block[0], heads: block[1], position: positions[t], cos: cos, sin: sin,
                            inverse: inverse)
                    }
                }
            }
        }
    }

    public func tanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
        nonisolated(unsafe) let x = x
        forElements(count) { i in x[i] = Foundation.tanh(x[i]) }
    }

    public func tanhBackward(output y: UnsafePointer<Float>, gradient dy: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dy[i] *= 1 - y[i] * y[i] }
    }

    public func addColumnSums(
        _ dy: UnsafePointer<Float>, rows: Int, columns: Int, ldy: Int, into db: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let g = dy + r * ldy
            for j in 0..<columns { db[j] += g[j] }
        }
    }

    public func standardNormal(seed: UInt64, count: Int, into x: UnsafeMutablePointer<Float>) {
        // Pair j is SplitMix64 outputs 2j+1 and 2j+2: a generator positioned after 2j outputs.
        var j = 0
        while 2 * j < count {
            var rng = SplitMix64(seed: seed &+ UInt64(2 * j) &* 0x9E37_79B9_7F4A_7C15)
            let (z0, z1) = StandardNormal.pair(&rng)
            x[2 * j] = z0
            if 2 * j + 1 < count { x[2 * j + 1] = z1 }
            j += 1
        }
    }

    public func randomSigns(seed: UInt64, first: Int, count: Int, into x: UnsafeMutablePointer<Float>) {
        var i = 0
        while i < count {
            let word = (first + i) / 64, bit = (first + i) % 64
            var rng = SplitMix64(seed: seed &+ UInt64(word) &* 0x9E37_79B9_7F4A_7C15)
            let bits = rng.next()
            for b in bit..<min(64, bit + count - i) { x[i + b - bit] = (bits >> UInt64(b)) & 1 == 1 ? -1 : 1 }
            i += 64 - bit
        }
    }

    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] *= x[i] }
    }

    public func scale(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int, by factors: [Float], perRow: Bool) {
        precondition(factors.count == (perRow ? rows : rows * columns), "\(factors.count) factors")
        for r in 0..<rows {
            for j in 0..<columns { x[r * columns + j] *= factors[perRow ? r : r * columns + j] }
        }
    }
}
