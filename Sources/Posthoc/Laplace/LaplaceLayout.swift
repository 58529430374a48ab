import Loaders

/// The parameter vector θ a Laplace posterior is over, laid out as laplace-torch lays it out for a peft
/// model: every LoRA module in the model's registration order, each as its `lora_A` (rank × in) and then
/// its `lora_B` (out × rank) weight, row-major. The curvature events, the Jacobians and the saved
/// posterior all address θ through this layout.
public struct LaplaceLayout: Sendable {
    public enum Factor: String, Sendable { case a = "A", b = "B" }

    /// One weight matrix of θ.
    public struct Block: Sendable {
        public let module: String
        public let factor: Factor
        public let rows: Int
        public let columns: Int
        /// Where the block starts in θ.
        public let offset: Int
        public var count: Int { rows * columns }
    }

    public let blocks: [Block]
    /// θ at the MAP (the adapter's values), in layout order.
    public let values: [Float]
    public var parameterCount: Int { values.count }
    /// Block index of each module's A; its B follows it.
    let firstBlock: [String: Int]

    /// `order`: the model's module paths in registration order (`AdapterParameters.moduleOrder`).
    /// Throws for adapters whose parameters are not plain LoRA factors (LoRA-XS cores, saved heads).
    public init(adapter: LoRAAdapter, order: [String]) throws {
        let file = adapter.directory ?? "adapter"
        guard adapter.kind != .loraXS else {
            throw UsageError(
                file: file, item: "\(adapter.kind)",
                "Laplace posteriors over LoRA-XS cores are not supported yet: only plain LoRA adapters")
        }
        // Saved copies PEFT keeps of untouched layers (a tied head) do not train; `modules_to_save` ones do.
        if let saved = adapter.config.modulesToSave.first {
            throw UsageError(
                file: file, item: saved,
                "the adapter trains a whole saved layer (modules_to_save); Laplace over saved heads is not "
                    + "supported yet, only over LoRA factors")
        }
        let byModule = Dictionary(adapter.layers.map { ($0.module, $0) }, uniquingKeysWith: { first, _ in first })
        let rank = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        for layer in adapter.layers where rank[layer.module] == nil {
            throw UsageError(
                file: file, item: layer.module, "the model has no module of that name to fit a posterior over")
        }
        var blocks: [Block] = [], values: [Float] = [], first: [String: Int] = [:]
        for module in order where byModule[module] != nil && first[module] == nil {
            let layer = byModule[module]!
            first[module] = blocks.count
            blocks.append(
                Block(module: module, factor: .a, rows: layer.rank, columns: layer.inFeatures, offset: values.count))
            values += layer.a
            blocks.append(
                Block(module: module, factor: .b, rows: layer.outFeatures, columns: layer.rank, offset: values.count))
            values += layer.b
        }
        self.blocks = blocks
        self.values = values
        firstBlock = first
    }

    /// The indices of a module's A and B blocks; nil for a module θ does not hold.
    func blockIndices(of module: String) -> (a: Int, b: Int)? {
        firstBlock[module].map { ($0, $0 + 1) }
    }

    /// ‖θ‖², in double precision: the prior's quadratic term at a zero prior mean.
    public var squaredNorm: Double { values.reduce(0) { $0 + Double($1) * Double($1) } }
}
