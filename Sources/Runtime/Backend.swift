/// The numeric operations the model definitions are written against. The CPU backend implements them
/// with OpenBLAS and threaded loops; a GPU backend implements the same calls over its own memory, so
/// models and scoring code never change. All matrices are row-major; `ld*` are row strides in elements,
/// which lets callers address column blocks (one head, one fused projection) without copying.
public protocol ComputeBackend: Sendable {
    /// C[m×n] = alpha · A[m×k] · op(B) + beta · C, op(B) = Bᵀ (B stored n×k) when `transposeB`.
    func gemm(
        m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int)

    /// Runs `body(i)` for i in 0..<count on the backend's worker threads. Matrix calls made inside run
    /// single-threaded, so the two levels of parallelism never oversubscribe the cores.
    func parallelFor(_ count: Int, _ body: @Sendable (Int) -> Void)

    /// y = x / rms(x) · weight, per row of `columns` values.
    func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, epsilon: Float,
        rows: Int, columns: Int, into y: UnsafeMutablePointer<Float>)

    /// y = (x − mean) / sqrt(var + ε) · weight + bias, per row.
    func layerNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        epsilon: Float, rows: Int, columns: Int, into y: UnsafeMutablePointer<Float>)

    /// out[r, j] = silu(g[r, j]) · u[r, j], reading gate and up from row strides (fused projections).
    func siluMultiply(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, inputStride: Int,
        rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>)

    /// Exact (erf) GELU in place, as BERT's "gelu".
    func gelu(_ x: UnsafeMutablePointer<Float>, count: Int)

    /// y += x, elementwise.
    func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int)

    /// Adds `bias` (length `columns`) to every row.
    func addBias(
        _ bias: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int, into y: UnsafeMutablePointer<Float>)

    // Backward passes (training and curvature). Gradients are accumulated (+=) into `dx` unless stated.

    /// C[m×n] = alpha · Aᵀ · B + beta · C with A stored k×m and B stored k×n: the weight-gradient shape
    /// (dW = dYᵀ · X summed over rows).
    func gemmTransposedA(
        m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int)

    /// dx += ∂(rmsNorm(x)·weight)/∂x applied to dy, per row.
    func rmsNormBackward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, epsilon: Float,
        outputGradient dy: UnsafePointer<Float>, rows: Int, columns: Int,
        into dx: UnsafeMutablePointer<Float>)

    /// dx += ∂layerNorm/∂x applied to dy, per row (the affine weight enters; the bias has no input gradient).
    func layerNormBackward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, epsilon: Float,
        outputGradient dy: UnsafePointer<Float>, rows: Int, columns: Int,
        into dx: UnsafeMutablePointer<Float>)

    /// For out = silu(g)·u: writes dg and du (overwriting) at the gate/up layout of the forward input.
    func siluMultiplyBackward(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, inputStride: Int,
        outputGradient dOut: UnsafePointer<Float>, rows: Int, columns: Int,
        gateGradient dg: UnsafeMutablePointer<Float>, upGradient du: UnsafeMutablePointer<Float>)

    /// dx = dy · gelu'(x) (exact erf form), overwriting `dy` in place; `x` is the pre-activation.
    func geluBackward(_ x: UnsafePointer<Float>, gradient dy: UnsafeMutablePointer<Float>, count: Int)
}

extension ComputeBackend {
    /// y[rows × out] = x[rows × in] · W[out × in]ᵀ (+ beta · y): the shape of every linear layer.
    @inline(__always)
    public func linear(
        _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, weight: UnsafePointer<Float>,
        outFeatures: Int, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil, beta: Float = 0
    ) {
        gemm(
            m: rows, n: outFeatures, k: inFeatures, alpha: 1, a: x, lda: inFeatures, b: weight, ldb: inFeatures,
            transposeB: true, beta: beta, c: y, ldc: ldy ?? outFeatures)
    }
}
