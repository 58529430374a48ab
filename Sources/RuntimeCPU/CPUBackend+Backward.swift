import Runtime
import CBLAS
import Dispatch
import Foundation

/// The backward kernels of the CPU backend: the transposed product that weight gradients need, and the
/// derivatives of the normalisations and activations the models use.
extension CPUBackend {
    public func gemmTransposedA(
        m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta != 1 { for r in 0..<m { for j in 0..<n { c[r * ldc + j] *= beta } } }
            return
        }
        nonisolated(unsafe) let (a, b, c) = (a, b, c)
        columnBlocks(m: m, n: n, k: k) { lo, cols in
            cblas_sgemm(
                CblasRowMajor, CblasTrans, CblasNoTrans, Int32(m), Int32(cols), Int32(k), alpha, a, Int32(lda),
                b + lo, Int32(ldb), beta, c + lo, Int32(ldc))
        }
    }

    public func rmsNormBackward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, epsilon: Float,
        outputGradient dy: UnsafePointer<Float>, rows: Int, columns: Int,
        into dx: UnsafeMutablePointer<Float>
    ) {
        nonisolated(unsafe) let (x, w, dy, dx) = (x, weight, dy, dx)
        forRows(rows, work: rows * columns * 2) { range in
            for r in range {
                let xr = x + r * columns, gr = dy + r * columns, dr = dx + r * columns
                var ss: Float = 0, dot: Float = 0
                for j in 0..<columns { ss += xr[j] * xr[j]; dot += gr[j] * w[j] * xr[j] }
                let inv = 1 / (ss / Float(columns) + epsilon).squareRoot()
                // y_j = x_j·inv·w_j ⇒ dx_j = inv·w_j·g_j − x_j·inv³·(Σ g·w·x)/n
                let c = inv * inv * inv * dot / Float(columns)
                for j in 0..<columns { dr[j] += inv * w[j] * gr[j] - xr[j] * c }
            }
        }
    }

    public func layerNormBackward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, epsilon: Float,
        outputGradient dy: UnsafePointer<Float>, rows: Int, columns: Int,
        into dx: UnsafeMutablePointer<Float>
    ) {
        nonisolated(unsafe) let (x, w, dy, dx) = (x, weight, dy, dx)
        let n = Float(columns)
        forRows(rows, work: rows * columns * 3) { range in
            for r in range {
                let xr = x + r * columns, gr = dy + r * columns, dr = dx + r * columns
                var mean: Float = 0
                for j in 0..<columns { mean += xr[j] }
                mean /= n
                var v: Float = 0
                for j in 0..<columns { let d = xr[j] - mean; v += d * d }
                let inv = 1 / (v / n + epsilon).squareRoot()
                // With x̂ = (x − μ)·inv and ĝ = g·w: dx = inv · (ĝ − mean(ĝ) − x̂ · mean(ĝ·x̂)).
                var sumG: Float = 0, sumGX: Float = 0
                for j in 0..<columns {
                    let g = gr[j] * w[j]
                    sumG += g
                    sumGX += g * (xr[j] - mean) * inv
                }
                let mg = sumG / n, mgx = sumGX / n
                for j in 0..<columns {
                    let xh = (xr[j] - mean) * inv
                    dr[j] += inv * (gr[j] * w[j] - mg - xh * mgx)
                }
            }
        }
    }

    public func siluMultiplyBackward(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, inputStride: Int,
        outputGradient dOut: UnsafePointer<Float>, rows: Int, columns: Int,
        gateGradient dg: UnsafeMutablePointer<Float>, upGradient du: UnsafeMutablePointer<Float>
    ) {
        nonisolated(unsafe) let (g, u, d, dg, du) = (gate, up, dOut, dg, du)
        forRows(rows, work: rows * columns * 8) { range in
            for r in range {
                let gr = g + r * inputStride, ur = u + r * inputStride, dr = d + r * columns
                siluMultiplyBackwardRow(
                    gr, ur, dr, gateGradient: dg + r * inputStride, upGradient: du + r * inputStride, count: columns)
            }
        }
    }

    public func geluBackward(_ x: UnsafePointer<Float>, gradient dy: UnsafeMutablePointer<Float>, count: Int) {
        nonisolated(unsafe) let (x, dy) = (x, dy)
        forElements(count) { i in
            let v = x[i]
            // d/dx [x·Φ(x)] = Φ(x) + x·φ(x)
            let cdf = 0.5 * (1 + Foundation.erf(v * 0.70710678118654752))
            let pdf = 0.3989422804014327 * Foundation.exp(-0.5 * v * v)
            dy[i] *= cdf + v * pdf
        }
    }
}
