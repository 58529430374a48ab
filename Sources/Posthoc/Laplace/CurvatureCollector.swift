import Loaders
import Runtime

/// What one block of θ saw in one backward event, in the form every structure reads: the block W
/// (rows × columns) maps its input a_t to an output whose gradient is g_t, so its gradient is Σ_t g_t a_tᵀ.
/// LoRA's A sees (x, ∂L/∂u), its B (u, s·∂L/∂y), a LoRA-XS core (v = x·A₀ᵀ, ∂L/∂u), a head's weight
/// (x, ∂L/∂y) and its bias the constant input 1 (`input` nil).
struct BlockActivity {
    let block: Int
    let input: UnsafePointer<Float>?
    let inputStride: Int
    let outputGradient: UnsafePointer<Float>
    let outputStride: Int
}

/// What a Laplace fit or predictive reads from a curvature pass, collected from its events as they come
/// (their pointers live only during the callback): per block the Kronecker factors (token-level, for
/// KFAC), and per example and backward pass the gradient of θ (for the diagonal and full GGN, and the
/// Jacobian rows of a predictive). Run it one batch at a time: per-example gradients are kept only for
/// the batch in hand.
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

    var observesOnlyTheHead: Bool { layout.blocks.allSatisfy { $0.module == LaplaceLayout.lmHeadModule } }

    func observe(batch: CurvatureBatch) {
        self.batch = batch
        loss += batch.loss
        count += batch.count
        nonFiniteExamples += batch.nonFiniteRows.map { batch.examples[$0] }
        // Gradients per pass are added as passes arrive (one for a loss, K for the GGN or Jacobians).
        gradients = Array(repeating: [], count: keepsPerExampleGradients ? batch.count : 0)
    }

    func observe(_ e: LoRABackwardEvent) {
        var activities: [BlockActivity] = []
        if let core = e.coreInput {
            if let i = layout.block(e.module, .core) {
                activities.append(
                    .init(
                        block: i, input: core, inputStride: e.rank, outputGradient: e.loraAOutputGradient,
                        outputStride: e.rank))
            }
        } else {
            if let i = layout.block(e.module, .loraA) {
                activities.append(
                    .init(
                        block: i, input: e.input, inputStride: e.inFeatures, outputGradient: e.loraAOutputGradient,
                        outputStride: e.rank))
            }
            if let i = layout.block(e.module, .loraB) {
                var gradient = e.loraBOutputGradient, stride = e.outputGradientStride
                if let rows = layout.blocks[i].rowSelection {
                    // The kept rows of B see only their own outputs' gradients.
                    gradient = gathered(gradient, rows: e.rows, stride: stride, columns: rows)
                    stride = rows.count
                }
                activities.append(
                    .init(
                        block: i, input: e.loraBInput, inputStride: e.rank, outputGradient: gradient,
                        outputStride: stride))
            }
        }
        record(activities, rows: e.rows, examples: e.examples, pass: e.outputIndex ?? 0)
    }

    /// The `columns` of `rows` rows of x (row stride `stride`), packed rows × columns.count into a buffer
    /// reused across events (valid until the next call).
    private func gathered(_ x: UnsafePointer<Float>, rows: Int, stride: Int, columns: [Int]) -> UnsafePointer<Float> {
        let K = columns.count
        if selected.count < rows * K {
            selected.deallocate()
            selected = .allocate(capacity: rows * K)
        }
        for t in 0..<rows {
            for (j, c) in columns.enumerated() { selected[t * K + j] = x[t * stride + c] }
        }
        return UnsafePointer(selected.baseAddress!)
    }

    private var selected = UnsafeMutableBufferPointer<Float>.allocate(capacity: 0)
    deinit { selected.deallocate() }

    func observe(layer e: LayerBackwardEvent) {
        var activities: [BlockActivity] = []
        if let i = layout.block(e.module, .weight) {
            activities.append(
                .init(
                    block: i, input: e.input, inputStride: e.inFeatures, outputGradient: e.outputGradient,
                    outputStride: e.outputGradientStride))
        }
        if let i = layout.block(e.module, .bias) {
            activities.append(
                .init(
                    block: i, input: nil, inputStride: 0, outputGradient: e.outputGradient,
                    outputStride: e.outputGradientStride))
        }
        record(activities, rows: e.rows, examples: e.examples, pass: e.outputIndex ?? 0)
    }

    private func record(_ activities: [BlockActivity], rows: Int, examples: [Range<Int>], pass: Int) {
        for a in activities {
            kronecker?.add(
                a, layout.blocks[a.block], rows: rows, examples: examples, firstPass: pass == 0, backend: backend)
        }
        guard keepsPerExampleGradients else { return }
        for (n, range) in examples.enumerated() where !range.isEmpty {
            while gradients[n].count <= pass {
                gradients[n].append([Float](repeating: 0, count: layout.parameterCount))
            }
            gradients[n][pass].withUnsafeMutableBufferPointer { g in
                for a in activities {
                    let block = layout.blocks[a.block]
                    let t = range.lowerBound, output = a.outputGradient + t * a.outputStride
                    let into = g.baseAddress! + block.offset
                    if let input = a.input {
                        // ∂/∂W = Σ_t g_tᵀ a_t (rows × columns) over the example's rows.
                        backend.gemmTransposedA(
                            m: block.rows, n: block.columns, k: range.count, alpha: 1, a: output, lda: a.outputStride,
                            b: input + t * a.inputStride, ldb: a.inputStride, beta: 1, c: into, ldc: block.columns)
                    } else {
                        backend.addColumnSums(
                            output, rows: range.count, columns: block.rows, ldy: a.outputStride, into: into)
                    }
                }
            }
        }
    }
}

/// KFAC factors of every block of θ, as curvlinops' `KFACLinearOperator` (expand, type-2) and
/// laplace-torch's rescaling make them for batches of one example:
///     input factor  A = (1/N) Σ_n (1/T_n) Σ_t a_{nt} a_{nt}ᵀ,   output factor G = Σ_n Σ_t g_{nt} g_{nt}ᵀ,
/// with a the block's input at every token of the example and g its output gradient in each backward
/// pass. T_n is the example's own length whatever the batch, so bayeval's factors do not depend on how
/// examples are batched. A bias's input is the constant 1, so its A is the 1 × 1 factor 1 (curvlinops'
/// `separate_weight_and_bias`: laplace-torch keeps the bias block as G alone). A factor wider than
/// `maxFactorDimension` is streamed into a `NystromSketch` of `factorRank` eigenpairs instead of summed
/// whole (an 8B model's 4096- and 14336-wide factors).
final class KroneckerFactors {
    struct Factors {
        let input: KroneckerFactor  // columns × columns
        let output: KroneckerFactor  // rows × rows
    }
    let fitCount: Int
    /// Per block of θ, in layout order.
    let blocks: [Factors]
    /// Examples seen by each block with the constant input (a bias), whose input factor is then exactly
    /// seen / N (1 after the fit) rather than a float sum of N terms 1/N.
    private var constantInputExamples: [Int: Int] = [:]

    init(layout: LaplaceLayout, fitCount: Int, maxFactorDimension: Int, factorRank: Int) {
        self.fitCount = fitCount
        var tests: [Int: [Float]] = [:]
        func factor(_ n: Int) -> KroneckerFactor {
            guard n > maxFactorDimension else { return KroneckerFactor(dense: n) }
            let rank = min(factorRank, n - 1)
            let test = tests[n] ?? NystromSketch.testMatrix(dimension: n, rank: rank)
            tests[n] = test
            return KroneckerFactor(sketch: NystromSketch(dimension: n, rank: rank, test: test))
        }
        blocks = layout.blocks.map { Factors(input: factor($0.columns), output: factor($0.rows)) }
    }

    func add(
        _ a: BlockActivity, _ block: LaplaceLayout.Block, rows: Int, examples: [Range<Int>], firstPass: Bool,
        backend: any ComputeBackend
    ) {
        // Output factor: every token of every pass.
        blocks[a.block].output.add(a.outputGradient, rows: rows, stride: a.outputStride, alpha: 1, backend: backend)
        // The input factor does not depend on the pass: once per example, scaled by 1/(N·T_n).
        guard firstPass else { return }
        for range in examples where !range.isEmpty {
            let alpha = 1 / (Float(fitCount) * Float(range.count))
            if let input = a.input {
                blocks[a.block].input.add(
                    input + range.lowerBound * a.inputStride, rows: range.count, stride: a.inputStride, alpha: alpha,
                    backend: backend)
            } else {
                constantInputExamples[a.block, default: 0] += 1
                blocks[a.block].input.setConstant(
                    Float(Double(constantInputExamples[a.block]!) / Double(fitCount)))
            }
        }
    }
}

/// One Kronecker factor as a fit sums it: whole (n × n), or sketched when too wide to hold. Summed by the
/// one thread that runs the curvature pass, then only read (decompositions run side by side).
final class KroneckerFactor: @unchecked Sendable {
    let dimension: Int
    /// n × n; empty when sketched.
    private(set) var dense: [Float]
    let sketch: NystromSketch?

    init(dense n: Int) {
        dimension = n
        dense = [Float](repeating: 0, count: n * n)
        sketch = nil
    }

    init(sketch: NystromSketch) {
        dimension = sketch.dimension
        dense = []
        self.sketch = sketch
    }

    /// What identifies the factor's content: two factors with equal keys are equal.
    var key: [Float] { sketch.map { $0.sketch + [Float($0.trace)] } ?? dense }

    /// F += α·Σ_t x_t x_tᵀ over `rows` rows of x.
    func add(_ x: UnsafePointer<Float>, rows: Int, stride: Int, alpha: Float, backend: any ComputeBackend) {
        if let sketch { return sketch.add(x, rows: rows, stride: stride, alpha: alpha, backend: backend) }
        let n = dimension
        dense.withUnsafeMutableBufferPointer { c in
            backend.gemmTransposedA(
                m: n, n: n, k: rows, alpha: alpha, a: x, lda: stride, b: x, ldb: stride, beta: 1,
                c: c.baseAddress!, ldc: n)
        }
    }

    /// A 1 × 1 factor set to `value` (a bias's constant input).
    func setConstant(_ value: Float) {
        precondition(dimension == 1 && sketch == nil)
        dense[0] = value
    }

    /// Its eigendecomposition, the count of eigenvalues clipped from below zero (dense), and a sketch's
    /// raised shift relative to its largest eigenvalue (`NystromSketch.eigen`).
    func eigen(name: String) throws -> FactorDecomposition {
        if let sketch {
            let (eigen, raisedShift) = try sketch.eigen(name: name)
            return FactorDecomposition(eigen: eigen, clipped: 0, raisedShift: raisedShift)
        }
        let e = try SymmetricEigen(dense.map(Double.init), dimension: dimension, name: name)
        return FactorDecomposition(
            eigen: FactorEigen(values: e.values, basis: .dense(e.vectors.map(Float.init))), clipped: e.clipped,
            raisedShift: nil)
    }
}

struct FactorDecomposition {
    let eigen: FactorEigen
    let clipped: Int
    let raisedShift: Double?
}
