import ArgumentParser
import Posthoc

/// `train --loraxs`: LoRA-XS in a projected subspace (gmum/bayesian-finetuning's recipe).
struct LoRAXSOptions: ParsableArguments {
    @Flag(
        help: ArgumentHelp(
            "Train LoRA-XS: each target's frozen bases A (r × in) and B (out × r) projected from its base weight, "
                + "and only the r × r core between them (plus an encoder's head)."))
    var loraxs = false
    @Option(
        help: ArgumentHelp(
            "LoRA-XS bases: svd, wsvd (or cca; whitened by the layer's input covariance), dct, rand (or random), "
                + "or a hybrid as upstream names them (dct-1/2_svd, cca-1/2_svd, random-1/2_svd, "
                + "dct-1/4_svd-1/4_random; default svd)."))
    var projection: String?
    @Option(help: "dct: keep the r input and output frequencies of largest energy, or the lowest (top-left).")
    var dctSelect: String?
    @Option(help: "Seed of rand's Gaussian bases (default: --seed).") var projectionSeed: UInt64?
    @Flag(help: "L-LoRA-S: train the bases A and B along with the core.") var trainBases = false
    @Option(help: "wsvd: the training batches its input covariance is accumulated over (upstream: 11).")
    var covarianceBatches = 11

    var projectionName: String { projection ?? "svd" }
    var dctSelection: DCTProjection.Selection { dctSelect.flatMap(DCTProjection.Selection.init(rawValue:)) ?? .energy }

    func validate() throws {
        guard loraxs else {
            let stray = [
                projection.map { _ in "--projection" }, dctSelect.map { _ in "--dct-select" },
                projectionSeed.map { _ in "--projection-seed" }, trainBases ? "--train-bases" : nil,
                covarianceBatches != 11 ? "--covariance-batches" : nil,
            ].compactMap { $0 }
            if !stray.isEmpty { throw ValidationError("\(stray.joined(separator: ", ")) go with --loraxs") }
            return
        }
        if let dctSelect, DCTProjection.Selection(rawValue: dctSelect) == nil {
            throw ValidationError("--dct-select is energy or top-left, not '\(dctSelect)'")
        }
        guard covarianceBatches > 0 else { throw ValidationError("--covariance-batches must be positive") }
        do { _ = try self.projection(seed: 0) } catch let error as ProjectionError {
            throw ValidationError("--projection: \(error)")
        }
    }

    func projection(seed: UInt64) throws -> any SubspaceProjection {
        try ProjectionSpec.parse(projectionName, seed: projectionSeed ?? seed, dctSelection: dctSelection)
    }

    /// Refuses a hybrid whose rank split does not add up at `rank`, before any model is loaded.
    func validate(rank: Int) throws {
        guard loraxs, let hybrid = try? projection(seed: 0) as? HybridProjection else { return }
        do { _ = try hybrid.ranks(total: rank) } catch let error as ProjectionError {
            throw ValidationError("--projection: \(error)")
        }
    }

    /// The settings a resumed LoRA-XS run must share (none for plain LoRA); each family's own only
    /// where the projection uses it, as the parsed projection says (`validate` has parsed it).
    func settings(seed: UInt64) throws -> [String: String] {
        guard loraxs else { return [:] }
        let p = try projection(seed: seed)
        var s = ["bayeval_loraxs": projectionName, "bayeval_train_bases": String(trainBases)]
        if p.usesSeed { s["bayeval_projection_seed"] = String(projectionSeed ?? seed) }
        if p.usesDCTSelection { s["bayeval_dct_select"] = dctSelection.rawValue }
        if p.needsInputCovariance { s["bayeval_covariance_batches"] = String(covarianceBatches) }
        return s
    }
}
