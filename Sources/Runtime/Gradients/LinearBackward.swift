/// Gradient buffers of one linear layer's trainable parts, accumulated (+=) by every backward pass
/// until zeroed.
public final class LinearGradient: @unchecked Sendable {
    /// Per patch, in the linear's patch order: ∂L/∂A (rank × in; with a LoRA-XS core, of the folded
    /// R·A₀) and ∂L/∂B (out × rank).
    public let patchA: [Tensor]
    public let patchB: [Tensor]
    /// The whole layer's weight and bias, when it trains as a whole (a `modules_to_save` head).
    public let weight: Tensor?
    public let bias: Tensor?

    public init(_ linear: Linear, wholeLayer: Bool) {
        patchA = linear.patches.map { Tensor(shape: $0.a.shape) }
        patchB = linear.patches.map { Tensor(shape: $0.b.shape) }
        weight = wholeLayer ? Tensor(shape: linear.weight.shape) : nil
        bias = wholeLayer ? linear.bias.map { Tensor(shape: $0.shape) } : nil
    }

    public func zero() {
        for t in patchA + patchB + [weight, bias].compactMap({ $0 }) { t.storage.update(repeating: 0) }
    }
}

/// What one adapted block saw in a backward pass, for curvature estimates (Laplace): the inputs and
/// output gradients of the LoRA factors as separate linear maps, the way laplace-torch sees `lora_A` and
/// `lora_B` modules. Pointers are valid only during the callback.
public struct LoRABackwardEvent {
    /// PEFT module path (`model.layers.3.self_attn.q_proj`).
    public let module: String
    public let rows: Int
    /// Rows of each example (sequence) in this call; the head of an encoder sees one row per example.
    public let examples: [Range<Int>]
    public let rank: Int
    public let inFeatures: Int
    public let outFeatures: Int
    /// x, rows × inFeatures: the input of the base layer and of `lora_A`.
    public let input: UnsafePointer<Float>
    /// ∂L/∂(x·Aᵀ), rows × rank: the output gradient of `lora_A`.
    public let loraAOutputGradient: UnsafePointer<Float>
    /// u = x·Aᵀ, rows × rank: the input of `lora_B`.
    public let loraBInput: UnsafePointer<Float>
    /// scaling · ∂L/∂y, rows × outFeatures with row stride `outputGradientStride`: the output gradient of
    /// `lora_B` (PEFT multiplies its output by the scaling).
    public let loraBOutputGradient: UnsafePointer<Float>
    public let outputGradientStride: Int
    public let scaling: Float
    /// Which output the backward pass started from when it walks the outputs one at a time (the answer
    /// logit k of a Jacobian pass); nil for a loss.
    public let outputIndex: Int?
    /// LoRA-XS only: v = x·A₀ᵀ, rows × rank, the input of the trainable core R (u = v·Rᵀ). R is then the
    /// parameter (A₀ and B are fixed): its gradient is Σ_t ∂L/∂u_tᵀ v_t, with `loraAOutputGradient` as
    /// ∂L/∂u. nil for plain LoRA, whose parameters are A and B.
    public let coreInput: UnsafePointer<Float>?
}

/// What a layer that trains as a whole (a `modules_to_save` head) saw in a backward pass: its input and
/// output gradient, from which its weight's gradient is Σ_t ∂L/∂y_tᵀ x_t and its bias's Σ_t ∂L/∂y_t.
/// Pointers are valid only during the callback.
public struct LayerBackwardEvent {
    /// Module path as the model registers it (`classifier`, `bert.pooler.dense`).
    public let module: String
    public let rows: Int
    /// Rows of each example in this call (one row per example at an encoder's head).
    public let examples: [Range<Int>]
    public let inFeatures: Int
    public let outFeatures: Int
    /// x, rows × inFeatures.
    public let input: UnsafePointer<Float>
    /// ∂L/∂y, rows × outFeatures with row stride `outputGradientStride`.
    public let outputGradient: UnsafePointer<Float>
    public let outputGradientStride: Int
    public let hasBias: Bool
    /// As `LoRABackwardEvent.outputIndex`.
    public let outputIndex: Int?
}

/// What a curvature pass saw of one batch before its backward passes: enough for a GGN (diag(p) − ppᵀ)
/// and for the marginal likelihood (the loss and the example count).
public struct CurvatureBatch {
    /// Dataset indices of the batch's examples, in row order.
    public let examples: [Int]
    /// The answer logits of each example (examples may have different numbers of choices).
    public let logits: [[Float]]
    /// Softmax of `logits`, in double precision.
    public let probabilities: [[Double]]
    /// The true labels.
    public let labels: [Int]
    /// Σ −log p(label) over the batch: a sum, as the curvature is.
    public let loss: Double
    public var count: Int { examples.count }
    /// Rows whose logits are NaN or infinite: their probabilities, the loss and every backward event of
    /// this batch are then not finite either, and an accumulator must refuse the batch rather than add it.
    public var nonFiniteRows: [Int] { logits.indices.filter { !logits[$0].allSatisfy(\.isFinite) } }
}

/// Receives every adapted block's backward event, in reverse layer order, and from a curvature pass each
/// batch's outputs before its backward passes.
public protocol GradientObserver: AnyObject {
    func observe(_ event: LoRABackwardEvent)
    /// A whole-layer (saved head) backward; only for the layers the adapter trains whole.
    func observe(layer event: LayerBackwardEvent)
    func observe(batch: CurvatureBatch)
    /// Whether every event it needs is the decoder LM head's: a backward with no gradients to accumulate
    /// then stops after the head (a last-layer posterior's Jacobians cost a forward pass, not a backward).
    var observesOnlyTheHead: Bool { get }
}

extension GradientObserver {
    public func observe(batch: CurvatureBatch) {}
    public func observe(layer event: LayerBackwardEvent) {}
    public var observesOnlyTheHead: Bool { false }
}

extension Linear.LoRAPatch {
    /// v = x·A₀ᵀ (rows × rank) for a LoRA-XS patch, for `LoRABackwardEvent.coreInput`; nil otherwise.
    func coreInput(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, backend: some ComputeBackend) -> Tensor? {
        guard let fixedA else { return nil }
        let v = Tensor(shape: [rows, rank])
        backend.linear(
            x, rows: rows, inFeatures: inFeatures, weight: fixedA.pointer, outFeatures: rank, into: v.pointer)
        return v
    }
}

/// Names a linear layer's patches for observers: (linear, patch output offset) → module path.
public struct ModuleNames: Sendable {
    var names: [ObjectIdentifier: [Int: String]] = [:]
    /// Module paths in the order the model registers them (PyTorch's `named_modules`, laplace-torch's
    /// parameter order).
    public private(set) var ordered: [String] = []
    public init() {}
    mutating func add(_ linear: Linear, offset: Int, module: String) {
        names[ObjectIdentifier(linear), default: [:]][offset] = module
        ordered.append(module)
    }
    func name(_ linear: Linear, offset: Int) -> String {
        names[ObjectIdentifier(linear)]?[offset] ?? "offset \(offset)"
    }
}

/// Everything a backward pass over a model needs beyond the tape: where gradients go and who watches.
public struct BackwardContext {
    public var gradients: [ObjectIdentifier: LinearGradient]
    public var observer: GradientObserver?
    public var names: ModuleNames
    /// Rows of each example, for observers.
    public var examples: [Range<Int>] = []
    /// Passed on to observers as `LoRABackwardEvent.outputIndex`.
    public var outputIndex: Int?
    /// The layers that train whole: observers see their `LayerBackwardEvent`s.
    public var wholeLayers: Set<ObjectIdentifier>

    public init(
        gradients: [ObjectIdentifier: LinearGradient], observer: GradientObserver? = nil,
        names: ModuleNames = ModuleNames(), wholeLayers: Set<ObjectIdentifier> = []
    ) {
        self.gradients = gradients
        self.observer = observer
        self.names = names
        self.wholeLayers = wholeLayers
    }
}

extension Linear {
    /// Backward of `forward` (without weight noise): given x (rows × in) and ∂L/∂y (rows × out, row stride
    /// `ldy`), accumulates the gradients of the patches' A and B (and of the whole weight and bias when the
    /// layer trains as a whole) into `context`, reports each patch to the observer, and writes
    /// ∂L/∂x = ∂L/∂y · W + Σ s·(∂L/∂y·B)·A into `dx` (overwriting; nil skips it: nothing below needs
    /// it). `passes` runs several backward passes over the same input at once: dy and dx then hold one
    /// block of `rows` rows per pass, one after the other, so each product runs once over all of them
    /// (larger, faster products); each pass is reported with its own output index. Nil is one pass tagged
    /// `context.outputIndex`. `scratch` holds (1 + passes) × rows × max rank.
    func backward(
        input x: UnsafePointer<Float>, rows: Int, outputGradient dy: UnsafePointer<Float>, ldy: Int? = nil,
        inputGradient dx: UnsafeMutablePointer<Float>?, context: BackwardContext,
        backend: some ComputeBackend, scratch: UnsafeMutablePointer<Float>, passes: [Int?]? = nil
    ) {
        let ld = ldy ?? outFeatures
        let passes = passes ?? [context.outputIndex]
        let stacked = passes.count * rows
        if let dx {
            backend.gemm(
                m: stacked, n: inFeatures, k: outFeatures, alpha: 1, a: dy, lda: ld, b: weight.pointer,
                ldb: inFeatures, transposeB: false, beta: 0, c: dx, ldc: inFeatures)
        }
        let grads = context.gradients[ObjectIdentifier(self)]
        let observesLayer = context.observer != nil && context.wholeLayers.contains(ObjectIdentifier(self))
        for (q, outputIndex) in passes.enumerated() {
            let dyq = dy + q * rows * ld
            if let grads, let dW = grads.weight {
                backend.gemmTransposedA(
                    m: outFeatures, n: inFeatures, k: rows, alpha: 1, a: dyq, lda: ld, b: x, ldb: inFeatures,
                    beta: 1, c: dW.pointer, ldc: inFeatures)
                if let db = grads.bias {
                    backend.addColumnSums(dyq, rows: rows, columns: outFeatures, ldy: ld, into: db.pointer)
                }
            }
            if observesLayer, let observer = context.observer {
                observer.observe(
                    layer: LayerBackwardEvent(
                        module: context.names.name(self, offset: 0), rows: rows, examples: context.examples,
                        inFeatures: inFeatures, outFeatures: outFeatures, input: x, outputGradient: dyq,
                        outputGradientStride: ld, hasBias: bias != nil, outputIndex: outputIndex))
            }
        }
        let u = scratch, du = scratch + rows * maxRank
        for (i, p) in patches.enumerated() {
            let dyP = dy + p.outputOffset
            // u = x·Aᵀ is recomputed (rows × rank: cheap) rather than kept from the forward pass.
            backend.linear(x, rows: rows, inFeatures: inFeatures, weight: p.a.pointer, outFeatures: p.rank, into: u)
            // ∂L/∂u = s · ∂L/∂y · B, every pass at once.
            backend.gemm(
                m: stacked, n: p.rank, k: p.outFeatures, alpha: p.scaling, a: dyP, lda: ld, b: p.b.pointer,
                ldb: p.rank, transposeB: false, beta: 0, c: du, ldc: p.rank)
            if let grads {
                for q in passes.indices {
                    // ∂L/∂B += s · ∂L/∂yᵀ · u ;  ∂L/∂A += ∂L/∂uᵀ · x
                    backend.gemmTransposedA(
                        m: p.outFeatures, n: p.rank, k: rows, alpha: p.scaling, a: dyP + q * rows * ld, lda: ld, b: u,
                        ldb: p.rank, beta: 1, c: grads.patchB[i].pointer, ldc: p.rank)
                    backend.gemmTransposedA(
                        m: p.rank, n: inFeatures, k: rows, alpha: 1, a: du + q * rows * p.rank, lda: p.rank, b: x,
                        ldb: inFeatures, beta: 1, c: grads.patchA[i].pointer, ldc: inFeatures)
                }
            }
            if let observer = context.observer {
                observe(
                    p, passes: passes, x: x, rows: rows, dy: dyP, ld: ld, u: u, du: du, context: context,
                    observer: observer, backend: backend)
            }
            if let dx {
                backend.gemm(
                    m: stacked, n: inFeatures, k: p.rank, alpha: 1, a: du, lda: p.rank, b: p.a.pointer,
                    ldb: inFeatures, transposeB: false, beta: 1, c: dx, ldc: inFeatures)
            }
        }
    }

    /// One `LoRABackwardEvent` per pass for patch `p`. lora_B's output gradient is s·∂L/∂y, handed over
    /// as a scaled copy.
    private func observe(
        _ p: LoRAPatch, passes: [Int?], x: UnsafePointer<Float>, rows: Int, dy: UnsafePointer<Float>, ld: Int,
        u: UnsafePointer<Float>, du: UnsafePointer<Float>, context: BackwardContext, observer: GradientObserver,
        backend: some ComputeBackend
    ) {
        let scaled = UnsafeMutablePointer<Float>.allocate(capacity: rows * p.outFeatures)
        defer { scaled.deallocate() }
        let v = p.coreInput(x, rows: rows, inFeatures: inFeatures, backend: backend)
        for (q, outputIndex) in passes.enumerated() {
            let dyq = dy + q * rows * ld
            for r in 0..<rows {
                for j in 0..<p.outFeatures { scaled[r * p.outFeatures + j] = p.scaling * dyq[r * ld + j] }
            }
            withExtendedLifetime(v) {
                observer.observe(
                    LoRABackwardEvent(
                        module: context.names.name(self, offset: p.outputOffset), rows: rows,
                        examples: context.examples, rank: p.rank, inFeatures: inFeatures, outFeatures: p.outFeatures,
                        input: x, loraAOutputGradient: du + q * rows * p.rank, loraBInput: u,
                        loraBOutputGradient: scaled, outputGradientStride: p.outFeatures, scaling: p.scaling,
                        outputIndex: outputIndex, coreInput: v.map { UnsafePointer($0.pointer) }))
            }
        }
    }
}
