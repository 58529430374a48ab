import Foundation
import Loaders

/// One adapter found in a checkpoint tree, with what its metadata and path say about it.
public struct Checkpoint: Sendable, Equatable, Codable {
    /// The adapter directory as found (root joined with `relativePath`).
    public let path: String
    /// Relative to the tree's root ("." when the root is the adapter itself); results go under it.
    public let relativePath: String
    /// nil when neither metadata, path nor the fallback names one.
    public let task: TaskName?
    /// Where the task came from: metadata, path, or fallback (`--task`).
    public let taskSource: String?
    public let seed: Int?
    /// map, mle, blob, … from a path component or the metadata; `lora` when nothing says.
    public let training: String
    /// The adapter carries BLoB's `lora_A_rho`: a posterior to sample.
    public let hasPosterior: Bool

    public init(
        path: String, relativePath: String, task: TaskName?, taskSource: String?, seed: Int?, training: String,
        hasPosterior: Bool
    ) {
        self.path = path
        self.relativePath = relativePath
        self.task = task
        self.taskSource = taskSource
        self.seed = seed
        self.training = training
        self.hasPosterior = hasPosterior
    }
}

/// Finding the adapters of a directory tree — bayesian-peft's `{blob,map,mle}/<model>/<dataset>/<run>-seed<N>`,
/// gmum's per-epoch and per-seed folders, or bayeval's own `train` outputs — and reading what each one is
/// from its metadata (`bayeval_task`, `bayeval_seed`) or its path components.
public enum CheckpointTree {
    /// Path components that name a task, lower-cased, as the reference repositories spell their folders.
    public static let taskAliases: [String: TaskName] = {
        var a: [String: TaskName] = [:]
        for t in TaskName.allCases { a[t.rawValue] = t }
        for name in ["openbookqa", "obqa"] { a[name] = .openBookQA }
        for name in ["arc-challenge", "arc_challenge", "arc_c", "arcc"] { a[name] = .arcChallenge }
        for name in ["arc-easy", "arc_easy", "arc_e", "arce"] { a[name] = .arcEasy }
        for size in ["", "_xs", "_s", "_m", "_l", "_xl", "-xs", "-s", "-m", "-l", "-xl"] {
            a["winogrande" + size] = .winoGrande
        }
        for name in ["sst-2", "sst_2", "glue-sst2", "glue_sst2"] { a[name] = .sst2 }
        return a
    }()

    /// Folder names that say how an adapter was trained.
    public static let trainingMethods: Set<String> = ["map", "mle", "blob", "mcd", "ens", "lap", "lora-xs", "loraxs"]

    public static func isAdapter(_ directory: String) -> Bool {
        FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("adapter_config.json"))
    }

    /// Every adapter directory under `root` (the root itself when it is one), in path order. Adapters are
    /// not searched inside; hidden folders are skipped. `fallbackTask` is used where nothing else names one.
    public static func discover(root: String, fallbackTask: TaskName? = nil) throws -> [Checkpoint] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw LoadError(.io, file: root, item: "", "not a directory")
        }
        var found: [String] = []
        // Real paths already walked: a symlink back to an ancestor is visited once, not forever.
        var visited = Set<String>()
        func walk(_ relative: String) {
            let full = relative.isEmpty ? root : (root as NSString).appendingPathComponent(relative)
            guard visited.insert(URL(fileURLWithPath: full).resolvingSymlinksInPath().path).inserted else { return }
            if isAdapter(full) {
                found.append(relative)
                return
            }
            let children = ((try? fm.contentsOfDirectory(atPath: full)) ?? []).sorted()
            for child in children where !child.hasPrefix(".") {
                var d: ObjCBool = false
                let path = (full as NSString).appendingPathComponent(child)
                if fm.fileExists(atPath: path, isDirectory: &d), d.boolValue {
                    walk(relative.isEmpty ? child : (relative as NSString).appendingPathComponent(child))
                }
            }
        }
        walk("")
        guard !found.isEmpty else {
            throw LoadError(
                .missingKey, file: root, item: "adapter_config.json",
                "no adapter directory (one holding adapter_config.json) anywhere under this path")
        }
        return try found.map { try describe(root: root, relative: $0, fallbackTask: fallbackTask) }
    }

    static func describe(root: String, relative: String, fallbackTask: TaskName?) throws -> Checkpoint {
        let path = relative.isEmpty ? root : (root as NSString).appendingPathComponent(relative)
        let metadata = adapterMetadata(path)
        // The root's own name counts too: `evaluate runs/obqa` names the task of everything below it.
        let components =
            [URL(fileURLWithPath: root).standardizedFileURL.lastPathComponent]
            + relative.split(separator: "/").map(String.init)
        var task: TaskName? = nil
        var source: String? = nil
        if let named = metadata["bayeval_task"], let t = TaskName(rawValue: named) {
            (task, source) = (t, "metadata")
        } else {
            let named = Set(components.compactMap { taskAliases[$0.lowercased()] })
            if named.count == 1 { (task, source) = (named.first!, "path") }
        }
        if task == nil, let fallbackTask { (task, source) = (fallbackTask, "fallback") }
        let (seed, training, hasPosterior) = seedAndTraining(components: components, adapter: path, metadata: metadata)
        return Checkpoint(
            path: path, relativePath: relative.isEmpty ? "." : relative, task: task, taskSource: source, seed: seed,
            training: training, hasPosterior: hasPosterior)
    }

    /// Seed and training method of an adapter a run record names, from the path as recorded (and the
    /// adapter's metadata, where the path still resolves); for runs read outside a tree.
    public static func describe(adapterPath: String) -> (seed: Int?, training: String) {
        let components = URL(fileURLWithPath: adapterPath).standardizedFileURL.pathComponents
        let (seed, training, _) = seedAndTraining(
            components: components, adapter: adapterPath, metadata: adapterMetadata(adapterPath))
        return (seed, training)
    }

    /// The path first: a tree's seed<N> and map/mle/blob folders are what its owner compares (copies keep
    /// the metadata of the adapter they were copied from).
    static func seedAndTraining(
        components: [String], adapter: String, metadata: [String: String]
    )
        -> (seed: Int?, training: String, hasPosterior: Bool)
    {
        let seed = components.reversed().lazy.compactMap(seedNumber).first ?? metadata["bayeval_seed"].flatMap(Int.init)
        let hasPosterior = tensorNames(adapter).contains { $0.contains("lora_A_rho") }
        let training =
            components.reversed().first { trainingMethods.contains($0.lowercased()) }?.lowercased()
            ?? (hasPosterior ? "blob" : metadata["bayeval_task"] != nil ? "map" : "lora")
        return (seed, training, hasPosterior)
    }

    /// How tables name an adapter's base model: its `base_model_name_or_path` (a hub name such as
    /// HuggingFaceTB/SmolLM2-135M-Instruct says more than a local file name), else the model path's last
    /// component.
    public static func modelName(adapter: String, modelPath: String?) -> String {
        let config = try? AdapterConfig.load(path: (adapter as NSString).appendingPathComponent("adapter_config.json"))
        if let base = config?.baseModelNameOrPath, !base.isEmpty { return base }
        return modelPath.map { ($0 as NSString).lastPathComponent } ?? ""
    }

    /// N of a component containing `seed<N>` (also `seed-N`, `seed_N`, `seed=N`).
    static func seedNumber(_ component: String) -> Int? {
        let lower = component.lowercased()
        guard let range = lower.range(of: "seed") else { return nil }
        var rest = lower[range.upperBound...]
        if let first = rest.first, "-_=".contains(first) { rest = rest.dropFirst() }
        let digits = rest.prefix { $0.isNumber }
        return digits.isEmpty ? nil : Int(digits)
    }

    static func adapterFile(_ directory: String) -> String {
        (directory as NSString).appendingPathComponent("adapter_model.safetensors")
    }

    static func adapterMetadata(_ directory: String) -> [String: String] {
        (try? SafeTensorsFile(path: adapterFile(directory)))?.metadata ?? [:]
    }

    static func tensorNames(_ directory: String) -> [String] {
        (try? SafeTensorsFile(path: adapterFile(directory)))?.names ?? []
    }
}
