import Loaders
import Runtime

/// The parameter vector θ a Laplace posterior is over, laid out as laplace-torch lays it out for a peft
/// model: the chosen adapter tensors in the model's registration order (PyTorch's `named_parameters`),
/// each row-major: per LoRA module its `lora_A` (rank × in) then its `lora_B` (out × rank), a LoRA-XS
/// core R (rank × rank), a saved head's weight (out × in) then its bias (out). The curvature events, the
/// Jacobians and the saved posterior all address θ through this layout.
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
    }

    /// One tensor of θ.
    public struct Block: Sendable {
        /// Module path as the model's events name it.
        public let module: String
        public let role: Role
        public let rows: Int
        /// 1 for a bias.
        public let columns: Int
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
    public var parameterCount: Int { values.count }
    /// Block index of each (module, role).
    let index: [String: [Role: Int]]
    /// The index in `AdapterParameters.parameters` of each block's tensor.
    let parameterIndex: [Int]

    /// θ over `subset` of an attached adapter's `parameters`; `name` (the adapter's directory) names it
    /// in errors.
    public init(parameters: AdapterParameters, subset: Subset, name: String) throws {
        let chosen = parameters.parameters.enumerated().filter { _, p in
            switch subset {
            case .all: true
            case .head: p.role == .weight || p.role == .bias
            case .cores: p.role == .core
            }
        }
        guard !chosen.isEmpty else {
            let what =
                switch subset {
                case .all: "no trainable tensors"
                case .head:
                    "no saved head (modules_to_save): last-layer Laplace needs an encoder adapter that saves one"
                case .cores: "no LoRA-XS cores"
                }
            throw UsageError(file: name, item: "--subset \(subset.rawValue)", "the adapter has \(what)")
        }
        if let stray = chosen.first(where: { $0.element.position == Int.max }) {
            throw UsageError(
                file: name, item: stray.element.module, "the model has no module of that name to fit a posterior over")
        }
        // Registration order, then the adapter's own order within a module (A before B, weight before bias).
        let ordered = chosen.sorted { ($0.element.position, $0.offset) < ($1.element.position, $1.offset) }
        var blocks: [Block] = [], values: [Float] = [], index: [String: [Role: Int]] = [:]
        parameterIndex = ordered.map(\.offset)
        for (_, p) in ordered {
            let role = Role(p.role)
            let shape = p.value.shape
            index[p.path, default: [:]][role] = blocks.count
            blocks.append(
                Block(
                    module: p.path, role: role, rows: shape[0], columns: shape.count > 1 ? shape[1] : 1,
                    offset: values.count))
            values += p.value.values
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
            theta.withUnsafeBufferPointer {
                tensor.pointer.update(from: $0.baseAddress! + block.offset, count: block.count)
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
