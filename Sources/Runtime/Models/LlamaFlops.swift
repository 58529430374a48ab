extension LlamaModel {
    /// Floating-point operations a forward pass executes (multiply-add = 2), counting what this runtime
    /// really runs: every layer for every new token, attention over the cached header and the sequence's
    /// own earlier tokens, the last layer and head only where asked. LoRA patches included.
    public func executedFlops(sequenceLengths: [Int], prefixLength: Int, lastOnly: Bool, answerCount: Int) -> Double {
        let h = Double(config.hiddenSize), q = Double(queryWidth), kv = Double(keyValueWidth)
        let i = Double(config.intermediateSize), layers = config.layerCount
        func lora(_ l: Linear, rows: Double) -> Double {
            l.patches.reduce(0) { $0 + 2 * rows * Double($1.rank) * (Double(l.inFeatures) + Double($1.outFeatures)) }
        }
        var total = 0.0
        for (n, layer) in self.layers.enumerated() {
            let reduce = lastOnly && n == layers - 1
            for len in sequenceLengths {
                let t = Double(len)
                let rows = reduce ? 1 : t
                total += 2 * t * h * (q + 2 * kv) + lora(layer.qkv, rows: t)  // every token needs k, v
                // Query row r attends to prefix + r + 1 keys: QKᵀ and PV each 2·d per key per head.
                let keys = reduce ? Double(prefixLength) + t : t * Double(prefixLength) + t * (t + 1) / 2
                total += 4 * q * keys
                total += 2 * rows * q * h + lora(layer.output, rows: rows)
                total += 2 * rows * h * 2 * i + lora(layer.gateUp, rows: rows)
                total += 2 * rows * i * h + lora(layer.down, rows: rows)
            }
        }
        let heads = lastOnly ? Double(sequenceLengths.count) : Double(sequenceLengths.reduce(0, +))
        total += 2 * heads * h * Double(answerCount)
        return total
    }
}
