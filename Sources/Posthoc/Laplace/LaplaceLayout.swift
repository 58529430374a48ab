import Loaders
import Runtime

/// The parameter vector θ a Laplace posterior is over, laid out as laplace-torch lays it out for a peft
/// model: the chosen adapter tensors in the model's registration order (PyTorch's `named_parameters`),
/// each row-major: per LoRA module its `lora_A` (rank × in) then its `lora_B` (out × rank), a LoRA-XS
/// core R (rank × rank), a saved head's weight (out × in) then its bias (out). The curvature events, the
/// Jacobians and the saved posterior all address θ through this layout. Under `lm-head` the LM head's
/// lora_B is held at the answer tokens' rows only (`Block.rowSelection`), as laplace-lora's
/// `CustomLMHead_lora` trims it: the other rows never reach an answer logit.
public struct LaplaceLayout: Sendable {
    /// What a block of θ is; raw values are the names the fixtures and the saved posterior use.
    public enum Role: String, Sendable {
        case loraA = "A", loraB = "B", core, weight, bias

        init(_ role: AdapterParameters.Role) {
            switch role {
            case .loraA: self = .loraA
            case .loraB: self = .loraB
            case .core: self = .core
            case .weight: self = .weight
            case .bias: self = .bias
            }
        }
    }

    /// Which adapter tensors θ holds (`--subset`).
    public enum Subset: String, CaseIterable, Sendable {
        /// Every trainable tensor of the adapter.
        case all
        /// The layers an encoder adapter saves whole (`modules_to_save`): last-layer Laplace.
        case head
        /// The LoRA-XS cores R.
        case cores
        /// The LoRA of `lm_head`, its B restricted to the answer tokens' rows (laplace-lora's `last_layer`).
        case lmHead = "lm-head"
    }

    /// The module name of a decoder's LM head in the events and the adapter.
    public static let lmHeadModule = LlamaModel.headModule

    /// One tensor of θ.
    public struct Block: Sendable {
        /// Module path as the model's events name it.
        public let module: String
        public let role: Role
        public let rows: Int
        /// 1 for a bias.
        public let columns: Int
        /// The tensor's rows the block holds, in order, when not all of them (the LM head's answer rows).
        public let rowSelection: [Int]?
        /// Where the block starts in θ.
        public let offset: Int
        public var count: Int { rows * columns }
        /// Its coordinates in θ.
        public var range: Range<Int> { offset..<(offset + count) }
    }

    public let blocks: [Block]
    /// θ at the MAP (the adapter's values), in layout order.
    public let values: [Float]
    public let subset: Subset
    /// The LM head rows an `lm-head` layout keeps; empty otherwise.
    public var answerRows: [Int] { blocks.lazy.compactMap(\.rowSelection).first ?? [] }
    public var parameterCount: Int { values.count }
    /// Block index of each (module, role).
    let index: [String: [Role: Int]]
    /// The index in `AdapterParameters.parameters` of each block's tensor.
    let parameterIndex: [Int]

    /// θ over `subset` of an attached adapter's `parameters`; `name` (the adapter's directory) names it
    /// in errors. `answerRows`: the vocabulary rows of the LM head's lora_B an `lm-head` subset keeps (the
    /// task's answer tokens).
    public init(parameters: AdapterParameters, subset: Subset, name: String, answerRows: [Int] = []) throws {
        let chosen = parameters.parameters.enumerated().filter { _, p in
            switch subset {
            case .all: true
            case .head: p.role == .weight || p.role == .bias
            case .cores: p.role == .core
            case .lmHead: p.path == Self.lmHeadModule && (p.role == .loraA || p.role == .loraB)
            }
        }
        guard !chosen.isEmpty else {
            let what =
                switch subset {
                case .all: "no trainable tensors"
                case .head:
                    "no saved head (modules_to_save): last-layer Laplace needs an encoder adapter that saves one"
                case .cores: "no LoRA-XS cores"
                case .lmHead:
                    "no LoRA on lm_head (last-layer Laplace over the LM head needs an adapter whose "
                        + "target_modules include lm_head)"
                }
            throw UsageError(file: name, item: "--subset \(subset.rawValue)", "the adapter has \(what)")
        }
        if let stray = chosen.first(where: { $0.element.position == Int.max }) {
            throw UsageError(
                file: name, item: stray.element.module, "the model has no module of that name to fit a posterior over")
        }
        if let bad = chosen.first(where: { !(1...2).contains($0.element.value.shape.count) }) {
            throw UsageError(
                file: name, item: "\(bad.element.module) \(bad.element.role)",
                "a tensor of shape \(bad.element.value.shape): a posterior's blocks are matrices or vectors")
        }
        // A LoRA-XS layer's events carry its core's activity only (`CurvatureCollector`): bases trained too
        // (L-LoRA-S) would enter θ with no curvature, so they are refused rather than left at the prior.
        let coreModules = Set(chosen.filter { $0.element.role == .core }.map(\.element.module))
        if let basis = chosen.first(where: {
            coreModules.contains($0.element.module) && ($0.element.role == .loraA || $0.element.role == .loraB)
        }) {
            throw UsageError(
                file: name, item: basis.element.module,
                "a LoRA-XS layer whose bases are parameters too: its posterior covers the core only (--subset cores)")
        }
        // Registration order, then the adapter's own order within a module (A before B, weight before bias).
        let ordered = chosen.sorted { ($0.element.position, $0.offset) < ($1.element.position, $1.offset) }
        if subset == .lmHead {
            let vocabulary = ordered.first { $0.element.role == .loraB }?.element.value.shape[0] ?? 0
            guard !answerRows.isEmpty, Set(answerRows).count == answerRows.count,
                answerRows.allSatisfy({ (0..<vocabulary).contains($0) })
            else {
                throw UsageError(
                    file: name, item: "--subset lm-head",
                    "the answer rows \(answerRows.prefix(8)) are not distinct token ids below the vocabulary "
                        + "size \(vocabulary)")
            }
        }
        var blocks: [Block] = [], values: [Float] = [], index: [String: [Role: Int]] = [:]
        parameterIndex = ordered.map(\.offset)
        for (_, p) in ordered {
            let role = Role(p.role)
            let shape = p.value.shape, columns = shape.count > 1 ? shape[1] : 1
            let selection = subset == .lmHead && role == .loraB ? answerRows : nil
            index[p.path, default: [:]][role] = blocks.count
            blocks.append(
                Block(
                    module: p.path, role: role, rows: selection?.count ?? shape[0], columns: columns,
                    rowSelection: selection, offset: values.count))
            let all = p.value.values
            values += selection.map { rows in rows.flatMap { all[($0 * columns)..<(($0 + 1) * columns)] } } ?? all
        }
        self.blocks = blocks
        self.values = values
        self.subset = subset
        self.index = index
    }

    /// Puts θ (layout order) into the adapter's tensors, which the model computes with (a weight sample
    /// of a posterior; `values` restores the MAP).
    public func write(_ theta: [Float], into parameters: AdapterParameters) {
        precondition(theta.count == parameterCount, "θ has \(parameterCount) values")
        for (block, i) in zip(blocks, parameterIndex) {
            let tensor = parameters.parameters[i].value
            theta.withUnsafeBufferPointer { theta in
                let from = theta.baseAddress! + block.offset
                guard let rows = block.rowSelection else {
                    return tensor.pointer.update(from: from, count: block.count)
                }
                for (j, row) in rows.enumerated() {
                    (tensor.pointer + row * block.columns).update(from: from + j * block.columns, count: block.columns)
                }
            }
        }
        parameters.valuesChanged()
    }

    /// The index of a module's block of `role`; nil when θ does not hold it.
    func block(_ module: String, _ role: Role) -> Int? { index[module]?[role] }

    /// ‖θ‖², in double precision: the prior's quadratic term at a zero prior mean.
    public var squaredNorm: Double { blockSquaredNorms.reduce(0, +) }

    /// ‖θ_b‖² of each block.
    public var blockSquaredNorms: [Double] {
        blocks.map { b in values[b.range].reduce(0) { $0 + Double($1) * Double($1) } }
    }
}
