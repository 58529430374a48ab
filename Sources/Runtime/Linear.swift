import Loaders

/// A linear layer y = x·Wᵀ + b with LoRA updates applied on the fly: for each patch,
/// y[:, offset..<offset+out] += scaling · (x·Aᵀ)·Bᵀ. Several projections that share an input (q, k, v;
/// gate, up) are fused into one weight so one large matrix product serves them all; each keeps its own
/// LoRA patch over its block of output columns.
public final class Linear: @unchecked Sendable {
    public struct LoRAPatch: @unchecked Sendable {
        public let outputOffset: Int
        public let outFeatures: Int
        public let rank: Int
        public var scaling: Float
        public let a: Tensor  // rank × in
        public let b: Tensor  // out × rank
        /// The posterior weight samples are drawn from in Monte Carlo passes; nil: deterministic.
        public var sampler: (any PatchSampler)?
        /// LoRA-XS: the fixed A₀ (rank × in); `a` is then the folded R·A₀ and the core R is what trains.
        public var fixedA: Tensor?
    }

    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Tensor  // out × in
    public let bias: Tensor?  // out
    public private(set) var patches: [LoRAPatch] = []
    /// Sees every input this layer multiplies (W-SVD's input covariance); nil in every hot path.
    public var inputObserver: (any LinearInputObserver)?

    public init(weight: Tensor, bias: Tensor? = nil) {
        precondition(weight.shape.count == 2)
        self.weight = weight
        self.bias = bias
        outFeatures = weight.shape[0]
        inFeatures = weight.shape[1]
    }

    /// Row-stacks weights (and biases, zero where absent) of projections that share their input, in
    /// `backend`'s memory.
    public static func fused(_ parts: [(weight: Tensor, bias: Tensor?)], on backend: any ComputeBackend) -> Linear {
        let inF = parts[0].weight.shape[1]
        let outF = parts.reduce(0) { $0 + $1.weight.shape[0] }
        let w = Tensor(shape: [outF, inF])
        var row = 0
        let anyBias = parts.contains { $0.bias != nil }
        let b = anyBias ? Tensor(shape: [outF]) : nil
        for p in parts {
            precondition(p.weight.shape[1] == inF, "fused projections must share the input width")
            (w.pointer + row * inF).update(from: p.weight.pointer, count: p.weight.count)
            if let pb = p.bias, let b { (b.pointer + row).update(from: pb.pointer, count: pb.count) }
            row += p.weight.shape[0]
        }
        return Linear(weight: backend.resident(w), bias: b.map(backend.resident))
    }

    public func addPatch(outputOffset: Int, a: Tensor, b: Tensor, scaling: Float, fixedA: Tensor? = nil) {
        precondition(a.shape.count == 2 && b.shape.count == 2 && a.shape[0] == b.shape[1])
        precondition(a.shape[1] == inFeatures && outputOffset + b.shape[0] <= outFeatures)
        precondition(fixedA == nil || fixedA!.shape == a.shape)
        patches.append(
            LoRAPatch(
                outputOffset: outputOffset, outFeatures: b.shape[0], rank: a.shape[0],
                scaling: scaling, a: a, b: b, fixedA: fixedA))
    }

    public func removePatches() { patches.removeAll() }

    /// The same layer and patches over a copy of the weight, for changing it without touching the original
    /// (a tied LM head shares the embedding table).
    public func withOwnWeight() -> Linear {
        let copy = Linear(weight: Tensor(shape: weight.shape, values: weight.values), bias: bias)
        copy.patches = patches
        return copy
    }

    /// Sets (or clears, with nil) the posterior of patch `index`.
    public func setSampler(patch index: Int, _ sampler: (any PatchSampler)?) {
        patches[index].sampler = sampler
    }

    /// Folds every patch into the weight (W += s·B·A) and drops it: the same outputs at the cost of one
    /// product fewer per call.
    public func mergePatches(backend: some ComputeBackend) {
        for p in patches {
            backend.gemm(
                m: p.outFeatures, n: inFeatures, k: p.rank, alpha: p.scaling,
                a: p.b.pointer, lda: p.rank, b: p.a.pointer, ldb: inFeatures, transposeB: false,
                beta: 1, c: weight.pointer + p.outputOffset * inFeatures, ldc: inFeatures)
        }
        patches.removeAll()
    }

    /// y[rows × outFeatures] (row stride `ldy`) = x · Wᵀ + b + LoRA. `scratch` holds rows × max rank.
    public func forward(
        _ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
        backend: some ComputeBackend, scratch: UnsafeMutablePointer<Float>, noise: SampleSeeds? = nil
    ) {
        let ld = ldy ?? outFeatures
        inputObserver?.observe(input: x, rows: rows, columns: inFeatures)
        backend.linear(
            x, rows: rows, inFeatures: inFeatures, weight: weight.pointer, outFeatures: outFeatures, into: y, ldy: ld)
        if let bias { backend.addBias(bias.pointer, rows: rows, columns: outFeatures, stride: ld, into: y) }
        for p in patches {
            backend.linear(
                x, rows: rows, inFeatures: inFeatures, weight: p.a.pointer, outFeatures: p.rank, into: scratch)
            if let noise, let sampler = p.sampler {
                p.addSample(
                    sampler, x: x, inFeatures: inFeatures, rows: noise, u: scratch, y: y + p.outputOffset, ldy: ld,
                    backend: backend)
            }
            backend.gemm(
                m: rows, n: p.outFeatures, k: p.rank, alpha: p.scaling, a: scratch, lda: p.rank,
                b: p.b.pointer, ldb: p.rank, transposeB: true, beta: 1, c: y + p.outputOffset, ldc: ld)
        }
    }

    public var maxRank: Int { patches.map(\.rank).max() ?? 0 }
}

/// Receives a linear layer's inputs (rows × columns, host memory) as its forward pass multiplies them.
public protocol LinearInputObserver: AnyObject {
    func observe(input: UnsafePointer<Float>, rows: Int, columns: Int)
}

extension Linear.LoRAPatch {
    /// Each sequence s's own weight sample, added before the patch's product with B: u_s += X_s·E_Aᵀ, then
    /// y_s += s·u_s·E_Bᵀ (u_s already perturbed, so y gets s·X_s·(A+E_A)ᵀ(B+E_B)ᵀ once the caller adds
    /// s·u·Bᵀ). `u` is rows × rank; `y` points at this patch's first output column (row stride `ldy`).
    /// With `outputRows`, y holds only those rows of the patch's output (the answer logits of a head).
    func addSample(
        _ sampler: any PatchSampler, x: UnsafePointer<Float>, inFeatures: Int, rows noise: SampleSeeds,
        u: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, ldy: Int, outputRows: [Int]? = nil,
        backend: some ComputeBackend
    ) {
        if let calls = noise.flipoutCalls {
            return addFlipout(sampler, x: x, inFeatures: inFeatures, rows: noise, calls: calls, u: u, backend: backend)
        }
        let columns = outputRows?.count ?? outFeatures
        // One draw buffer per call (not per sequence), full-sized only for what the sampler perturbs (a
        // head's E_B is vocabulary × rank).
        let eA = UnsafeMutablePointer<Float>.allocate(capacity: sampler.perturbsA ? rank * inFeatures : 1)
        let eB = UnsafeMutablePointer<Float>.allocate(capacity: sampler.perturbsB ? outFeatures * rank : 1)
        let picked = UnsafeMutablePointer<Float>.allocate(
            capacity: sampler.perturbsB && outputRows != nil ? columns * rank : 1)
        defer { eA.deallocate(); eB.deallocate(); picked.deallocate() }
        for (range, seed) in zip(noise.rows, noise.seeds) where !range.isEmpty {
            sampler.draw(
                seed: seed, rank: rank, inFeatures: inFeatures, outFeatures: outFeatures, a: eA, b: eB, backend: backend
            )
            let us = u + range.lowerBound * rank
            if sampler.perturbsA {
                backend.gemm(
                    m: range.count, n: rank, k: inFeatures, alpha: 1, a: x + range.lowerBound * inFeatures,
                    lda: inFeatures, b: eA, ldb: inFeatures, transposeB: true, beta: 1, c: us, ldc: rank)
            }
            guard sampler.perturbsB else { continue }
            var rowsOfB = UnsafePointer(eB)
            if let outputRows {
                for (k, id) in outputRows.enumerated() { (picked + k * rank).update(from: eB + id * rank, count: rank) }
                rowsOfB = UnsafePointer(picked)
            }
            backend.gemm(
                m: range.count, n: columns, k: rank, alpha: scaling, a: us, lda: rank, b: rowsOfB, ldb: rank,
                transposeB: true, beta: 1, c: y + range.lowerBound * ldy, ldc: ldy)
        }
    }

    /// bayesian-peft's Flipout noise (its BLoB forward) for a sampler of A alone: E is drawn once per
    /// forward call (`calls[s]`, shared by that call's sequences), and each token t of sequence s adds
    /// ((x_t ⊙ r_t) Eᵀ) ⊙ s_t to u, with r_t ∈ {±1}^in and s_t ∈ {±1}^rank drawn from (seeds[s], the patch's
    /// key, t): every token sees diag(s_t) E diag(r_t), a perturbation of A with E's distribution but
    /// nearly independent across tokens, keyed by token position (`firstPositions`), so a one-row view
    /// draws the signs of the token it kept.
    private func addFlipout(
        _ sampler: any PatchSampler, x: UnsafePointer<Float>, inFeatures: Int, rows noise: SampleSeeds,
        calls: [UInt64], u: UnsafeMutablePointer<Float>, backend: some ComputeBackend
    ) {
        precondition(
            sampler.perturbsA && !sampler.perturbsB, "Flipout perturbs A only, as bayesian-peft's BLoB forward does")
        let longest = noise.rows.map(\.count).max() ?? 0
        let eA = UnsafeMutablePointer<Float>.allocate(capacity: rank * inFeatures)
        let signedX = UnsafeMutablePointer<Float>.allocate(capacity: max(1, longest * inFeatures))
        let signs = UnsafeMutablePointer<Float>.allocate(capacity: max(1, longest * max(inFeatures, rank)))
        let v = UnsafeMutablePointer<Float>.allocate(capacity: max(1, longest * rank))
        defer { eA.deallocate(); signedX.deallocate(); signs.deallocate(); v.deallocate() }
        var drawn: UInt64?
        // Sequences of one call in a row, so each call's E is drawn once; each writes only its own rows of u.
        for s in noise.byCall {
            let range = noise.rows[s]
            guard !range.isEmpty else { continue }
            if drawn != calls[s] {
                sampler.draw(
                    seed: calls[s], rank: rank, inFeatures: inFeatures, outFeatures: outFeatures, a: eA, b: eA,
                    backend: backend)
                drawn = calls[s]
            }
            let n = range.count
            let streams = Linear.LoRAPatch.flipoutStreams(seed: noise.seeds[s], key: sampler.key)
            backend.copy(x + range.lowerBound * inFeatures, into: signedX, count: n * inFeatures)
            let position = noise.firstPositions[s]
            backend.randomSigns(seed: streams.input, first: position * inFeatures, count: n * inFeatures, into: signs)
            backend.multiply(signs, into: signedX, count: n * inFeatures)
            backend.gemm(
                m: n, n: rank, k: inFeatures, alpha: 1, a: signedX, lda: inFeatures, b: eA, ldb: inFeatures,
                transposeB: true, beta: 0, c: v, ldc: rank)
            backend.randomSigns(seed: streams.output, first: position * rank, count: n * rank, into: signs)
            backend.multiply(signs, into: v, count: n * rank)
            backend.add(v, into: u + range.lowerBound * rank, count: n * rank)
        }
    }

    /// The seeds of a sequence's Flipout sign streams in one patch: r (tokens × in, row-major) and
    /// s (tokens × rank).
    static func flipoutStreams(seed: UInt64, key: UInt64) -> (input: UInt64, output: UInt64) {
        var rng = SplitMix64(seed: seed ^ (key &* 0xD1B5_4A32_D192_ED03))
        return (rng.next(), rng.next())
    }
}
