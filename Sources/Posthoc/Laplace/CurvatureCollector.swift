import Loaders
import Runtime

/// What a Laplace fit or predictive reads from a curvature pass, collected from its events as they come
/// (their pointers live only during the callback): per module the Kronecker factors (token-level, for
/// KFAC), and per example and backward pass the gradient of θ (for the diagonal and full GGN, and the
/// Jacobian rows of a predictive). Run it one batch at a time (`run(batch:)`): per-example gradients are
/// kept only for the batch in hand.
final class CurvatureCollector: GradientObserver {
    let layout: LaplaceLayout
    let backend: any ComputeBackend
    /// Token-level KFAC factors, when a Kronecker structure is fitted.
    let kronecker: KroneckerFactors?
    /// Whether to assemble each example's θ-gradient per backward pass.
    let keepsPerExampleGradients: Bool
    /// The batch in hand: its outputs, and [example][pass] → θ-gradient (P floats).
    private(set) var batch: CurvatureBatch?
    private(set) var gradients: [[[Float]]] = []
    /// Σ −log p(y) and the count over every batch seen; the batches whose logits were not finite.
    private(set) var loss = 0.0
    private(set) var count = 0
    private(set) var nonFiniteExamples: [Int] = []

    init(layout: LaplaceLayout, backend: any ComputeBackend, kronecker: KroneckerFactors?, perExample: Bool) {
        self.layout = layout
        self.backend = backend
        self.kronecker = kronecker
        keepsPerExampleGradients = perExample
    }

    func observe(batch: CurvatureBatch) {
        self.batch = batch
        loss += batch.loss
        count += batch.count
        nonFiniteExamples += batch.nonFiniteRows.map { batch.examples[$0] }
        // Gradients per pass are added as passes arrive (one for a loss, K for the GGN or Jacobians).
        gradients = Array(repeating: [], count: keepsPerExampleGradients ? batch.count : 0)
    }

    func observe(_ e: LoRABackwardEvent) {
        guard let (ia, ib) = layout.blockIndices(of: e.module) else { return }
        let pass = e.outputIndex ?? 0
        kronecker?.add(e, firstPass: pass == 0, backend: backend)
        guard keepsPerExampleGradients else { return }
        let a = layout.blocks[ia], b = layout.blocks[ib]
        for (n, rows) in e.examples.enumerated() where !rows.isEmpty {
            while gradients[n].count <= pass {
                gradients[n].append([Float](repeating: 0, count: layout.parameterCount))
            }
            gradients[n][pass].withUnsafeMutableBufferPointer { g in
                let t = rows.lowerBound, T = rows.count
                // ∂/∂A = Σ_t ∂L/∂u_tᵀ x_t (rank × in);  ∂/∂B = Σ_t (s·∂L/∂y_t)ᵀ u_t (out × rank).
                backend.gemmTransposedA(
                    m: e.rank, n: e.inFeatures, k: T, alpha: 1, a: e.loraAOutputGradient + t * e.rank, lda: e.rank,
                    b: e.input + t * e.inFeatures, ldb: e.inFeatures, beta: 1, c: g.baseAddress! + a.offset,
                    ldc: e.inFeatures)
                backend.gemmTransposedA(
                    m: e.outFeatures, n: e.rank, k: T, alpha: 1,
                    a: e.loraBOutputGradient + t * e.outputGradientStride, lda: e.outputGradientStride,
                    b: e.loraBInput + t * e.rank, ldb: e.rank, beta: 1, c: g.baseAddress! + b.offset, ldc: e.rank)
            }
        }
    }
}

/// KFAC factors of every LoRA factor, as curvlinops' `KFACLinearOperator` (expand, type-2) and
/// laplace-torch's rescaling make them for batches of one example:
///     input factor  A = (1/N) Σ_n (1/T_n) Σ_t a_{nt} a_{nt}ᵀ,   output factor G = Σ_n Σ_t g_{nt} g_{nt}ᵀ,
/// with a the factor's input (x for lora_A, u = x·Aᵀ for lora_B) at every token of the example, and g its
/// output gradient in each backward pass (∂L/∂u; s·∂L/∂y). T_n is the example's own length whatever the
/// batch, so bayeval's factors do not depend on how examples are batched.
final class KroneckerFactors {
    struct Module {
        var inputA: [Float]  // in × in
        var outputA: [Float]  // rank × rank
        var inputB: [Float]  // rank × rank
        var outputB: [Float]  // out × out
    }
    let fitCount: Int
    private(set) var modules: [String: Module] = [:]

    init(layout: LaplaceLayout, fitCount: Int, maxFactorDimension: Int) throws {
        self.fitCount = fitCount
        for block in layout.blocks where block.factor == .a {
            let b = layout.blocks[layout.blockIndices(of: block.module)!.b]
            let (inF, r, outF) = (block.columns, block.rows, b.rows)
            let widest = max(inF, outF)
            guard widest <= maxFactorDimension else {
                throw UsageError(
                    file: "--max-factor-dim", item: block.module,
                    "a Kronecker factor of this module is \(widest)×\(widest), over the limit of "
                        + "\(maxFactorDimension); raise the limit or fit a diagonal posterior")
            }
            modules[block.module] = Module(
                inputA: .init(repeating: 0, count: inF * inF), outputA: .init(repeating: 0, count: r * r),
                inputB: .init(repeating: 0, count: r * r), outputB: .init(repeating: 0, count: outF * outF))
        }
    }

    func add(_ e: LoRABackwardEvent, firstPass: Bool, backend: any ComputeBackend) {
        guard var m = modules[e.module] else { return }
        modules[e.module] = nil  // no copy-on-write of the factors while they are updated
        defer { modules[e.module] = m }
        let rows = e.rows, r = e.rank
        // Output factors: every token of every pass.
        gram(e.loraAOutputGradient, rows: rows, width: r, stride: r, alpha: 1, into: &m.outputA, backend)
        gram(
            e.loraBOutputGradient, rows: rows, width: e.outFeatures, stride: e.outputGradientStride, alpha: 1,
            into: &m.outputB, backend)
        // Input factors do not depend on the pass: once per example, scaled by 1/(N·T_n).
        guard firstPass else { return }
        for range in e.examples where !range.isEmpty {
            let alpha = 1 / (Float(fitCount) * Float(range.count))
            gram(
                e.input + range.lowerBound * e.inFeatures, rows: range.count, width: e.inFeatures,
                stride: e.inFeatures, alpha: alpha, into: &m.inputA, backend)
            gram(
                e.loraBInput + range.lowerBound * r, rows: range.count, width: r, stride: r, alpha: alpha,
                into: &m.inputB, backend)
        }
    }

    /// c += alpha · Σ_t x_t x_tᵀ over `rows` rows of `width` values (row stride `stride`).
    private func gram(
        _ x: UnsafePointer<Float>, rows: Int, width: Int, stride: Int, alpha: Float, into c: inout [Float],
        _ backend: any ComputeBackend
    ) {
        c.withUnsafeMutableBufferPointer { c in
            backend.gemmTransposedA(
                m: width, n: width, k: rows, alpha: alpha, a: x, lda: stride, b: x, ldb: stride, beta: 1,
                c: c.baseAddress!, ldc: width)
        }
    }
}
