import Foundation

extension ComputeBackend {
    /// The machine's sgemm rate in GFLOP/s: the best of `repeats` square n³ products, the yardstick for
    /// "fraction of peak" in benchmarks.
    public func measuredSgemmGFLOPs(n: Int = 2048, repeats: Int = 5) -> Double {
        let a = Tensor(shape: [n, n]), b = Tensor(shape: [n, n]), c = Tensor(shape: [n, n])
        for k in 0..<(n * n) { a[k] = Float(k % 7) * 0.01; b[k] = Float(k % 5) * 0.02 }
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now()
            gemm(
                m: n, n: n, k: n, alpha: 1, a: a.pointer, lda: n, b: b.pointer, ldb: n, transposeB: false, beta: 0,
                c: c.pointer, ldc: n)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
        }
        return 2 * pow(Double(n), 3) / best / 1e9
    }
}
