import Runtime
import CBLAS
import CMalloc
import Dispatch
import Foundation

/// OpenBLAS for matrix products, Dispatch for the elementwise and per-head loops.
public struct CPUBackend: ComputeBackend {
    public let threads: Int

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.threads = max(1, threads)
        // One thread pool only: OpenBLAS's own workers busy-wait between calls and would compete with the
        // Dispatch workers that run attention and the elementwise kernels; large products are split across
        // Dispatch workers instead (see gemm).
        openblas_set_num_threads(1)
        _ = Self.heapReuse
    }

    /// Every example allocates and frees its activations and gradients (hundreds of kilobytes to megabytes
    /// each), some on the workers. By default glibc hands such blocks back to the kernel on free (large
    /// blocks, and the per-thread arenas' heaps) and gets them again as freshly zeroed pages: a tenth of a
    /// Laplace run went to page faults. One arena for all threads, blocks up to 32 MB kept in the heap, its
    /// top trimmed only past 1 GB free. Set once per process, on the first backend, so it holds for library
    /// users too; one arena means one malloc lock, which costs nothing here: tensors are allocated per
    /// product or per pass, never inside the kernels' loops.
    private static let heapReuse: Void = {
        #if os(Linux)
        mallopt(M_ARENA_MAX, 1)
        mallopt(M_MMAP_THRESHOLD, 32 << 20)
        mallopt(M_TRIM_THRESHOLD, 1 << 30)
        #endif
    }()

    /// OpenBLAS's own build description (version, kernel, threading), for run records.
    public static var libraryDescription: String {
        openblas_get_config().map { String(cString: $0) } ?? "OpenBLAS"
    }

    public func gemm(
        m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        let tb = transposeB ? CblasTrans : CblasNoTrans
        nonisolated(unsafe) let (a, b, c) = (a, b, c)
        columnBlocks(m: m, n: n, k: k) { lo, cols in
            // Column block [lo, lo+cols) of op(B): rows of B when transposed, columns otherwise.
            let bBlock = transposeB ? b + lo * ldb : b + lo
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, tb, Int32(m), Int32(cols), Int32(k), alpha, a, Int32(lda),
                bBlock, Int32(ldb), beta, c + lo, Int32(ldc))
        }
    }

    /// Runs `body(first column, width)` over column blocks of an m×n×k product: one block per worker for
    /// large products (width a multiple of 16, friendly to the kernel's register tiles), the whole product
    /// at once for small ones (not worth a thread hand-off) and inside `parallelFor` bodies.
    @inline(__always)
    func columnBlocks(m: Int, n: Int, k: Int, _ body: @Sendable (Int, Int) -> Void) {
        let work = Double(m) * Double(n) * Double(k)
        let parts =
            threads > 1 && work > 4e6 && n >= 32 * threads && !Thread.current.isInsideParallelRegion ? threads : 1
        if parts == 1 { body(0, n); return }
        let width = ((n + parts - 1) / parts + 15) / 16 * 16
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let lo = p * width
            let cols = min(width, n - lo)
            if cols > 0 { body(lo, cols) }
        }
    }

    public func parallelFor(_ count: Int, _ body: @Sendable (Int) -> Void) {
        guard count > 1, threads > 1 else {
            for i in 0..<count { body(i) }
            return
        }
        // Products made inside the body stay on the calling worker (see gemm).
        DispatchQueue.concurrentPerform(iterations: count) { i in
            Thread.current.isInsideParallelRegion = true
            body(i)
            Thread.current.isInsideParallelRegion = false
        }
    }

    /// Splits `rows` into one contiguous chunk per thread when the work is large enough to pay for it.
    @inline(__always)
    func forRows(_ rows: Int, work: Int, _ body: @Sendable (Range<Int>) -> Void) {
        if threads == 1 || work < 32_768 || rows < 2 {
            body(0..<rows)
            return
        }
        let chunks = min(threads, rows)
        let per = (rows + chunks - 1) / chunks
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = c * per
            let hi = min(rows, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }

    public func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, epsilon: Float,
        rows: Int, columns: Int, into y: UnsafeMutablePointer<Float>
    ) {
        nonisolated(unsafe) let (x, w, y) = (x, weight, y)
        forRows(rows, work: rows * columns) { range in
            for r in range {
                let xr = x + r * columns, yr = y + r * columns
                var ss: Float = 0
                for j in 0..<columns { ss += xr[j] * xr[j] }
                let inv = 1 / (ss / Float(columns) + epsilon).squareRoot()
                for j in 0..<columns { yr[j] = xr[j] * inv * w[j] }
            }
        }
    }

    public func layerNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        epsilon: Float, rows: Int, columns: Int, into y: UnsafeMutablePointer<Float>
    ) {
        nonisolated(unsafe) let (x, w, b, y) = (x, weight, bias, y)
        forRows(rows, work: rows * columns) { range in
            for r in range {
                let xr = x + r * columns, yr = y + r * columns
                var mean: Float = 0
                for j in 0..<columns { mean += xr[j] }
                mean /= Float(columns)
                var v: Float = 0
                for j in 0..<columns { let d = xr[j] - mean; v += d * d }
                let inv = 1 / (v / Float(columns) + epsilon).squareRoot()
                for j in 0..<columns { yr[j] = (xr[j] - mean) * inv * w[j] + b[j] }
            }
        }
    }

    public func siluMultiply(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, inputStride: Int,
        rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>
    ) {
        nonisolated(unsafe) let (g, u, o) = (gate, up, out)
        forRows(rows, work: rows * columns * 8) { range in
            for r in range {
                siluMultiplyRow(g + r * inputStride, u + r * inputStride, o + r * columns, count: columns)
            }
        }
    }

    public func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        nonisolated(unsafe) let x = x
        forElements(count) { i in
            let v = x[i]
            x[i] = 0.5 * v * (1 + Foundation.erf(v * 0.70710678118654752))
        }
    }

    /// Runs `body(i)` for every element index, in chunks of 1024 spread over the threads.
    @inline(__always)
    func forElements(_ count: Int, _ body: @Sendable (Int) -> Void) {
        let chunk = 1024
        forRows((count + chunk - 1) / chunk, work: count * 8) { range in
            for r in range {
                for i in (r * chunk)..<min(count, (r + 1) * chunk) { body(i) }
            }
        }
    }

    public func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    public func addBias(
        _ bias: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int,
        into y: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let yr = y + r * stride
            for j in 0..<columns { yr[j] += bias[j] }
        }
    }
}

extension Thread {
    /// Set while a `parallelFor` body runs on this thread, so nested matrix products do not fan out again.
    var isInsideParallelRegion: Bool {
        get { threadDictionary["bayeval.parallel"] as? Bool ?? false }
        set { threadDictionary["bayeval.parallel"] = newValue }
    }
}
