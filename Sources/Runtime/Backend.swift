/// The numeric operations the model definitions are written against: every loop over activations or
/// weights that a forward or backward pass runs goes through one of these. The CPU backend (target
/// `RuntimeCPU`) implements them with OpenBLAS and threaded loops; a GPU backend implements the same calls
/// over the memory it allocates (`allocate`, `resident`), so models and scoring code never change. All
/// matrices are row-major; `ld*` are row strides in elements, which lets callers address column blocks
/// (one head, one fused projection) without copying.
public protocol ComputeBackend: Sendable {
    /// Zeroed storage for `count` floats where this backend computes. The CPU's is host memory; a GPU
    /// backend returns memory its kernels address and the host can still read (managed memory), so
    /// results handed back to callers need no explicit copy.
    func allocate(count: Int) -> TensorStorage

    /// `tensor` in this backend's memory: the tensor itself when it is already there (always, on the CPU),
    /// otherwise a copy. Models call it once per weight when they are built.
    func resident(_ tensor: Tensor) -> Tensor

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

    // The rest of a model's pass: gathers, positions, attention, activations, noise.

    /// out[i] = table[rows[i]] for rows `width` wide (embedding lookups, answer rows of a head).
    func gatherRows(
        _ table: UnsafePointer<Float>, width: Int, rows: [Int], into out: UnsafeMutablePointer<Float>)

    /// y[0..<count] = x[0..<count].
    func copy(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int)

    /// x[0..<count] = 0.
    func zero(_ x: UnsafeMutablePointer<Float>, count: Int)

    /// table[rows[i]] += x[i] for rows `width` wide (the gather's adjoint; rows may repeat).
    func addRows(_ x: UnsafePointer<Float>, width: Int, rows: [Int], into table: UnsafeMutablePointer<Float>)

    /// Rotates, in every row r of x (row stride `stride`), each block (column offset, head count) of
    /// `rotary.headDimension`-wide heads by the angle of position `positions[r]`; `inverse` for the backward.
    func rotate(
        _ x: UnsafeMutablePointer<Float>, stride: Int, positions: [Int], blocks: [(offset: Int, heads: Int)],
        rotary: RotaryEmbedding, inverse: Bool)

    /// out = softmax(q·kᵀ/√d)·v for the sequences, heads and asking rows `layout` describes: rows ×
    /// heads·d for `.all` queries, one row per sequence otherwise.
    func attention(_ layout: AttentionLayout, qkv: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>)

    /// Given ∂L/∂out (rows × heads·d), writes ∂L/∂q, ∂L/∂k, ∂L/∂v into `dqkv` (the layout of qkv;
    /// its k and v blocks must be zero on entry). Needs `.all` queries and no cached prefix.
    func attentionBackward(
        _ layout: AttentionLayout, qkv: UnsafePointer<Float>, outputGradient dOut: UnsafePointer<Float>,
        into dqkv: UnsafeMutablePointer<Float>)

    /// tanh in place (BERT's pooler).
    func tanh(_ x: UnsafeMutablePointer<Float>, count: Int)

    /// dy ·= 1 − y², in place, given the tanh output y.
    func tanhBackward(output y: UnsafePointer<Float>, gradient dy: UnsafeMutablePointer<Float>, count: Int)

    /// db[j] += Σ_r dy[r, j] over `rows` rows of row stride `ldy`: a bias gradient.
    func addColumnSums(
        _ dy: UnsafePointer<Float>, rows: Int, columns: Int, ldy: Int, into db: UnsafeMutablePointer<Float>)

    /// x[i] = N(0, 1) draw number i of `seed`, counter-based: each value depends on (seed, i) only, so a GPU
    /// computes them in parallel and a script repeats them. The draws are `StandardNormal`'s: SplitMix64
    /// outputs 2j+1 and 2j+2 of `seed`, Box–Muller, give values 2j and 2j+1.
    func standardNormal(seed: UInt64, count: Int, into x: UnsafeMutablePointer<Float>)

    /// x[r, j] ·= factors[r] (`perRow`) or x[i] ·= factors[i], over rows × columns values.
    func scale(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int, by factors: [Float], perRow: Bool)

    /// x[i] = sign number first + i of `seed`: ±1 from bit j mod 64 of SplitMix64 output ⌊j/64⌋ + 1 for
    /// sign j (set: −1), counter-based as `standardNormal` is: Flipout's sign vectors.
    func randomSigns(seed: UInt64, first: Int, count: Int, into x: UnsafeMutablePointer<Float>)

    /// y ·= x, elementwise.
    func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int)
}

extension ComputeBackend {
    /// The given rows of a row-major matrix `width` wide, in the given order, as a new tensor.
    public func gatherRows(_ x: Tensor, _ rows: [Int], width: Int) -> Tensor {
        let out = tensor([rows.count, width])
        gatherRows(x.pointer, width: width, rows: rows, into: out.pointer)
        return out
    }

    /// A tensor holding `values`, in this backend's memory (small host-made inputs: logit gradients).
    public func tensor(_ shape: [Int], values: [Float]) -> Tensor { resident(Tensor(shape: shape, values: values)) }

    /// A new tensor in this backend's memory with `x`'s shape and values.
    public func copy(_ x: Tensor) -> Tensor {
        let out = tensor(x.shape)
        copy(x.pointer, into: out.pointer, count: x.count)
        return out
    }

    /// A zeroed tensor in this backend's memory.
    public func tensor(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, storage: allocate(count: max(1, shape.reduce(1, *))))
    }

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
