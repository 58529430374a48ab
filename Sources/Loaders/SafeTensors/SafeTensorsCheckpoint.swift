import Foundation

/// The weights of a Hugging Face model directory: a single `model.safetensors`, or shards listed in
/// `model.safetensors.index.json` (`weight_map`: tensor name → shard file). Every shard is validated on
/// open, and every tensor the index names must exist in the shard it names.
public final class SafeTensorsCheckpoint: @unchecked Sendable {
    public let directory: String
    public let shards: [SafeTensorsFile]
    private let location: [String: Int]

    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        let indexPath = (directory as NSString).appendingPathComponent("model.safetensors.index.json")
        var shardFiles: [String]
        var expected: [String: String] = [:]
        if fm.fileExists(atPath: indexPath) {
            let index = try JSONValue.parse(file: indexPath)
            guard let map = index["weight_map"]?.object else {
                throw LoadError(.missingKey, file: indexPath, item: "weight_map", "no 'weight_map' object")
            }
            for (tensor, file) in map {
                guard let f = file.string, !f.contains("/") else {
                    throw LoadError(
                        .invalidValue, file: indexPath, item: tensor, "shard must be a file name in the directory")
                }
                expected[tensor] = f
            }
            shardFiles = Array(Set(expected.values)).sorted()
        } else {
            let single = (directory as NSString).appendingPathComponent("model.safetensors")
            if fm.fileExists(atPath: single) {
                shardFiles = ["model.safetensors"]
            } else {
                let all = (try? fm.contentsOfDirectory(atPath: directory)) ?? []
                shardFiles = all.filter { $0.hasSuffix(".safetensors") && !$0.hasPrefix("adapter_") }.sorted()
            }
            guard !shardFiles.isEmpty else {
                throw LoadError(
                    .missingKey, file: directory, item: "model.safetensors",
                    "no model.safetensors, model.safetensors.index.json or *.safetensors in the directory")
            }
        }
        var shards: [SafeTensorsFile] = []
        var location: [String: Int] = [:]
        for name in shardFiles {
            let path = (directory as NSString).appendingPathComponent(name)
            guard fm.fileExists(atPath: path) else {
                throw LoadError(.missingKey, file: indexPath, item: name, "shard named in the index does not exist")
            }
            let shard = try SafeTensorsFile(path: path)
            for t in shard.tensors {
                if let prev = location[t.name] {
                    throw LoadError(
                        .overlap, file: path, item: t.name,
                        "tensor also stored in \(shards[prev].path)")
                }
                location[t.name] = shards.count
            }
            shards.append(shard)
        }
        for (tensor, file) in expected.sorted(by: { $0.key < $1.key }) {
            guard let i = location[tensor], (shards[i].path as NSString).lastPathComponent == file else {
                throw LoadError(
                    .missingKey, file: indexPath, item: tensor, "the index places it in \(file), which does not hold it"
                )
            }
        }
        self.shards = shards
        self.location = location
    }

    public var names: [String] { location.keys.sorted() }

    public func info(_ name: String) -> SafeTensorInfo? { location[name].flatMap { shards[$0].info(name) } }

    public func shard(holding name: String) throws -> SafeTensorsFile {
        guard let i = location[name] else {
            throw LoadError(.missingKey, file: directory, item: name, "no such tensor in the checkpoint")
        }
        return shards[i]
    }

    public func floats(_ name: String) throws -> [Float] { try shard(holding: name).floats(name) }
}
