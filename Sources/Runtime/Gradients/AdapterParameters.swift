import Loaders

/// The trainable tensors of an attached adapter, each with its gradient buffer and its PEFT key: LoRA A
/// and B, a LoRA-XS core R between fixed A₀ and B, and whole head layers (`modules_to_save`). Values are
/// the very tensors the model computes with, so an optimizer step on `value` changes the model; a
/// LoRA-XS core is the exception: the model multiplies by the folded R·A₀, refreshed by
/// `valuesChanged()`. A LoRA-XS layer may also train its bases (L-LoRA-S: A₀ as lora_A, B as lora_B).
public final class AdapterParameters: @unchecked Sendable {
    public enum Role: String, Sendable { case loraA, loraB, core, weight, bias }

    public struct Parameter: @unchecked Sendable {
        /// The key in `adapter_model.safetensors` (`base_model.model.<module>.lora_A.weight`, …).
        public let key: String
        public let module: String
        public let role: Role
        public let value: Tensor
        public let gradient: Tensor
        /// The module path observers' events carry (`ModuleNames`), and its place in the model's
        /// registration order (PyTorch's `named_parameters` order, laplace-torch's θ order).
        public var path = ""
        public var position = Int.max
    }

    /// One adapter layer resolved against the model: its linear layer, output block and parts.
    public struct Target {
        public let module: String
        public let linear: Linear
        public let offset: Int
        /// LoRA-XS: the trainable core and the fixed A₀ (A and B then do not train).
        public let core: (value: Tensor, fixedA: Tensor)?
        /// LoRA-XS: A₀ and B train too (L-LoRA-S), saved under their lora_A / lora_B keys.
        public var trainsBases = false
    }

    public let parameters: [Parameter]
    let gradients: [ObjectIdentifier: LinearGradient]
    let names: ModuleNames
    let wholeLayers: Set<ObjectIdentifier>
    private let folds: [Fold]

    /// A LoRA-XS layer: the model computes with folded = R·A₀; the folded tensor's gradient G is turned
    /// into R's (G·A₀ᵀ) and, when the bases train, A₀'s (Rᵀ·G).
    private struct Fold {
        let core: Tensor, fixedA: Tensor, folded: Tensor, foldedGradient: Tensor, coreGradient: Tensor
        let basisGradient: Tensor?
    }

    /// `heads`: whole layers that train (module path as the adapter saves it, e.g. `classifier`).
    public init(targets: [Target], heads: [(module: String, linear: Linear)], names: ModuleNames) {
        var gradients: [ObjectIdentifier: LinearGradient] = [:]
        let headIDs = Set(heads.map { ObjectIdentifier($0.linear) })
        for l in targets.map(\.linear) + heads.map(\.linear) where gradients[ObjectIdentifier(l)] == nil {
            gradients[ObjectIdentifier(l)] = LinearGradient(l, wholeLayer: headIDs.contains(ObjectIdentifier(l)))
        }
        var parameters: [Parameter] = []
        let position = Dictionary(names.ordered.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        func located(_ p: Parameter, _ linear: Linear, _ offset: Int) -> Parameter {
            var p = p
            p.path = names.name(linear, offset: offset)
            p.position = position[p.path] ?? Int.max
            return p
        }
        var folds: [Fold] = []
        let root = "base_model.model."
        for t in targets {
            guard let index = t.linear.patches.firstIndex(where: { $0.outputOffset == t.offset }) else {
                preconditionFailure("\(t.module): no patch at output offset \(t.offset); attach the adapter first")
            }
            let patch = t.linear.patches[index], grad = gradients[ObjectIdentifier(t.linear)]!
            if let core = t.core {
                // The patch's own A₀ (what the backward events multiply by), so trained bases stay one tensor.
                let core = (value: core.value, fixedA: patch.fixedA ?? core.fixedA)
                let coreGradient = Tensor(shape: core.value.shape)
                parameters.append(
                    located(
                        Parameter(
                            key: root + t.module + ".default_lora_latent_mapping.weight", module: t.module,
                            role: .core, value: core.value, gradient: coreGradient), t.linear, t.offset))
                let basisGradient = t.trainsBases ? Tensor(shape: core.fixedA.shape) : nil
                folds.append(
                    Fold(
                        core: core.value, fixedA: core.fixedA, folded: patch.a, foldedGradient: grad.patchA[index],
                        coreGradient: coreGradient, basisGradient: basisGradient))
                if let basisGradient {
                    parameters.append(
                        located(
                            Parameter(
                                key: root + t.module + ".lora_A.weight", module: t.module, role: .loraA,
                                value: core.fixedA, gradient: basisGradient), t.linear, t.offset))
                    parameters.append(
                        located(
                            Parameter(
                                key: root + t.module + ".lora_B.weight", module: t.module, role: .loraB,
                                value: patch.b, gradient: grad.patchB[index]), t.linear, t.offset))
                }
            } else {
                parameters.append(
                    located(
                        Parameter(
                            key: root + t.module + ".lora_A.weight", module: t.module, role: .loraA,
                            value: patch.a, gradient: grad.patchA[index]), t.linear, t.offset))
                parameters.append(
                    located(
                        Parameter(
                            key: root + t.module + ".lora_B.weight", module: t.module, role: .loraB,
                            value: patch.b, gradient: grad.patchB[index]), t.linear, t.offset))
            }
        }
        for (module, linear) in heads {
            let grad = gradients[ObjectIdentifier(linear)]!
            parameters.append(
                located(
                    Parameter(
                        key: root + module + ".weight", module: module, role: .weight,
                        value: linear.weight, gradient: grad.weight!), linear, 0))
            if let b = linear.bias, let gb = grad.bias {
                parameters.append(
                    located(
                        Parameter(key: root + module + ".bias", module: module, role: .bias, value: b, gradient: gb),
                        linear, 0))
            }
        }
        self.parameters = parameters
        self.gradients = gradients
        self.names = names
        self.folds = folds
        wholeLayers = headIDs
    }

    /// Where a backward pass accumulates these parameters' gradients (and who observes it). Without
    /// `accumulating`, the pass only reports to the observer: no gradient buffer changes and the products
    /// that fill them are skipped.
    public func context(observer: GradientObserver? = nil, accumulating: Bool = true) -> BackwardContext {
        BackwardContext(
            gradients: accumulating ? gradients : [:], observer: observer, names: names, wholeLayers: wholeLayers)
    }

    public var count: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// The model's module paths in registration order (PyTorch's `named_modules`).
    public var moduleOrder: [String] { names.ordered }

    public func zeroGradients() {
        gradients.values.forEach { $0.zero() }
        for f in folds {
            f.coreGradient.storage.update(repeating: 0)
            f.basisGradient?.storage.update(repeating: 0)
        }
    }

    /// Turns accumulated gradients into the parameters' own: with G = ∂L/∂(R·A₀), a core's is G·A₀ᵀ
    /// and trained bases' Rᵀ·G. Once per optimizer step over rank² · in values, on the host, as the
    /// optimizer's own updates are.
    public func finishGradients() {
        for f in folds {
            let r = f.core.shape[0], n = f.fixedA.shape[1]
            let dA = f.foldedGradient.pointer, a0 = f.fixedA.pointer, core = f.core.pointer
            for i in 0..<r {
                for j in 0..<r {
                    var s: Float = 0
                    for k in 0..<n { s += dA[i * n + k] * a0[j * n + k] }
                    f.coreGradient[i * r + j] = s
                }
            }
            guard let dA0 = f.basisGradient?.pointer else { continue }
            dA0.update(repeating: 0, count: r * n)
            for i in 0..<r {
                for j in 0..<r {
                    let rij = core[i * r + j]
                    for k in 0..<n { dA0[j * n + k] += rij * dA[i * n + k] }
                }
            }
        }
    }

    /// After values changed (an optimizer step, a restored checkpoint): refolds R·A₀ into the model.
    public func valuesChanged() {
        for f in folds {
            LoRAXS.fold(
                core: f.core.pointer, fixedA: f.fixedA.pointer, rank: f.core.shape[0], inFeatures: f.fixedA.shape[1],
                into: f.folded.pointer)
        }
    }

    /// Σ‖g‖² over every gradient, in double precision.
    public var gradientSquaredNorm: Double {
        parameters.reduce(0) { acc, p in
            var s = 0.0
            for j in 0..<p.gradient.count { let g = Double(p.gradient[j]); s += g * g }
            return acc + s
        }
    }
}

extension AdapterParameters {
    /// Each adapter layer resolved against the model's linear layers; a module it lacks is an error.
    /// `trainingBases`: LoRA-XS layers train A₀ and B as well as R.
    static func targets(
        _ adapter: LoRAAdapter, model: String, trainingBases: Bool,
        resolve: (String) -> (Linear, offset: Int, width: Int)?
    ) throws -> [Target] {
        let file = adapter.directory + "/adapter_model.safetensors"
        return try adapter.layers.map { layer in
            guard let (linear, offset, _) = resolve(layer.module) else {
                throw LoadError(
                    .unknownKey, file: file, item: layer.module,
                    "the \(model) model has no adaptable linear layer '\(layer.module)'")
            }
            var target = Target(module: layer.module, linear: linear, offset: offset, core: layer.coreTensors)
            target.trainsBases = trainingBases && target.core != nil
            return target
        }
    }
}

extension LlamaModel {
    /// The trainable parameters of `adapter`, which must be attached.
    public func adapterParameters(_ adapter: LoRAAdapter, trainingBases: Bool) throws -> AdapterParameters {
        let targets = try AdapterParameters.targets(
            adapter, model: config.modelType, trainingBases: trainingBases, resolve: linear(forModule:))
        return AdapterParameters(targets: targets, heads: [], names: moduleNames)
    }
}

extension BertModel {
    /// The trainable parameters of `adapter`, which must be attached: its LoRA layers and the head
    /// layers it saves (`modules_to_save`), which train whole.
    public func adapterParameters(_ adapter: LoRAAdapter, trainingBases: Bool) throws -> AdapterParameters {
        let targets = try AdapterParameters.targets(
            adapter, model: config.modelType, trainingBases: trainingBases, resolve: linear(forModule:))
        var heads: [(String, Linear)] = []
        var seen = Set<String>()
        for p in adapter.savedParameters {
            guard let dot = p.name.lastIndex(of: ".") else { continue }
            let module = String(p.name[..<dot])
            guard seen.insert(module).inserted else { continue }
            let path = canonicalModule(module)
            if path == poolerModule, let pooler { heads.append((module, pooler)) }
            if path == classifierModule, let classifier { heads.append((module, classifier)) }
        }
        return AdapterParameters(targets: targets, heads: heads, names: moduleNames)
    }
}

extension LoRALayerWeights {
    /// A LoRA-XS layer's core R and fixed A₀ as tensors; nil for plain LoRA.
    var coreTensors: (value: Tensor, fixedA: Tensor)? {
        guard let core else { return nil }
        return (Tensor(shape: [rank, rank], values: core), Tensor(shape: [rank, inFeatures], values: a))
    }
}
