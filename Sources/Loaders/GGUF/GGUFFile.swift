/// Owner of the bytes a `GGUFFile` reads: a memory map of a file, or a private copy of an in-memory buffer.
/// Immutable after init, so sharing it across threads is safe.
final class GGUFStorage: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    private let mapped: MappedFile?
    private let owned: UnsafeMutableRawBufferPointer?

    init(mapped: MappedFile) {
        self.mapped = mapped
        self.owned = nil
        self.bytes = mapped.bytes
    }

    init(copying source: UnsafeRawBufferPointer) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: 64)
        if let base = source.baseAddress, source.count > 0 {
            copy.baseAddress!.copyMemory(from: base, byteCount: source.count)
        }
        self.mapped = nil
        self.owned = copy
        self.bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(copy)[0..<source.count])
    }

    deinit { owned?.deallocate() }
}

/// A GGUF (version 2 or 3) file: metadata, tensor directory and zero-copy access to tensor bytes.
/// Everything in the header is validated when the file is opened, so later reads need no checks beyond
/// the tensor name and type.
public final class GGUFFile: Sendable {
    /// The path (or, for `parse(bytes:name:)`, the name) every error names.
    public let path: String
    public let version: UInt32
    /// Metadata by key; `metadataKeys` keeps the file order.
    public let metadata: [String: GGUFValue]
    public let metadataKeys: [String]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    /// `general.alignment`, 32 when absent.
    public let alignment: Int
    /// File offset where the data section starts; tensor offsets are relative to it.
    public let dataOffset: Int
    let storage: GGUFStorage
    private let tensorIndex: [String: Int]

    public static let magic: UInt32 = 0x4655_4747  // "GGUF" read as a little-endian u32
    public static let defaultAlignment = 32

    /// Maps `path` and parses its header. `populate` pre-faults the map (faster when every tensor is read).
    public convenience init(path: String, populate: Bool = false) throws {
        let mapped = try MappedFile(path: path, populate: populate)
        try self.init(storage: GGUFStorage(mapped: mapped), name: path)
    }

    /// Parses a GGUF image held in memory (fuzzing, tests, network buffers); the bytes are copied, so the
    /// buffer need not outlive the call.
    public static func parse(bytes: UnsafeRawBufferPointer, name: String) throws -> GGUFFile {
        try GGUFFile(storage: GGUFStorage(copying: bytes), name: name)
    }

    private init(storage: GGUFStorage, name: String) throws {
        let bytes = storage.bytes
        var r = GGUFByteReader(bytes: bytes, file: name)
        let magic = try r.u32(item: "header", what: "magic")
        guard magic == Self.magic else {
            let shown = (0..<4).map { String(UInt8(truncatingIfNeeded: magic >> ($0 * 8)), radix: 16) }
            throw LoadError(
                .invalidHeader, file: name, item: "header",
                "bad magic bytes \(shown) (expected 'GGUF'); not a GGUF file")
        }
        let version = try r.u32(item: "header", what: "version")
        guard version == 2 || version == 3 else {
            let hint = version.byteSwapped == 2 || version.byteSwapped == 3 ? " (a big-endian GGUF file?)" : ""
            throw LoadError(
                .unsupported, file: name, item: "header",
                "GGUF version \(version) is not supported; bayeval reads versions 2 and 3\(hint)")
        }
        // A tensor-info record is at least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes and a
        // metadata entry at least 8 (key length) + 4 (type) + 1 (smallest value).
        let tensorCount = try r.count(
            item: "header", what: "tensor count", cap: GGUFLimits.maxTensorCount,
            minBytesEach: 0)
        let kvCount = try r.count(
            item: "header", what: "metadata count", cap: GGUFLimits.maxKVCount,
            minBytesEach: 13)
        guard tensorCount <= r.remaining / 24 else {
            throw LoadError(
                .truncated, file: name, item: "header",
                "tensor count \(tensorCount) cannot fit in the \(r.remaining) bytes after the header")
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        metadata.reserveCapacity(kvCount)
        keys.reserveCapacity(kvCount)
        for i in 0..<kvCount {
            let key = try r.string(item: "metadata entry #\(i)", what: "key", cap: GGUFLimits.maxNameBytes)
            let type = try r.valueType(item: key)
            let value = try r.value(type, item: key)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw LoadError(.invalidHeader, file: name, item: key, "metadata key appears twice")
            }
            keys.append(key)
        }

        var alignment = Self.defaultAlignment
        if let a = metadata["general.alignment"] {
            guard case .uint32(let v) = a, v > 0, v & (v - 1) == 0 else {
                throw LoadError(
                    .invalidValue, file: name, item: "general.alignment",
                    "must be a uint32 power of two, got \(a)")
            }
            alignment = Int(v)
        }

        var tensors: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        tensors.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let t = try GGUFTensorInfo.read(&r, index: i, alignment: alignment)
            guard index.updateValue(i, forKey: t.name) == nil else {
                throw LoadError(.invalidHeader, file: name, item: t.name, "tensor name appears twice")
            }
            tensors.append(t)
        }
        // The data section starts at the next multiple of the alignment after the tensor directory.
        let dataOffset = (r.position + alignment - 1) / alignment * alignment
        try GGUFTensorInfo.validateRanges(tensors, dataOffset: dataOffset, fileSize: bytes.count, file: name)

        self.path = name
        self.version = version
        self.metadata = metadata
        self.metadataKeys = keys
        self.tensors = tensors
        self.alignment = alignment
        self.dataOffset = dataOffset
        self.storage = storage
        self.tensorIndex = index
    }

    public subscript(key: String) -> GGUFValue? { metadata[key] }

    /// `general.architecture` ("llama", "qwen2", …).
    public var architecture: String? { metadata["general.architecture"]?.string }

    public func tensor(_ name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// The tensor's info, or a `missingKey` error naming it.
    public func requireTensor(_ name: String) throws -> GGUFTensorInfo {
        guard let t = tensor(name) else {
            throw LoadError(.missingKey, file: path, item: name, "no such tensor in the file")
        }
        return t
    }

    /// The tensor's raw (possibly quantised) bytes, valid while this `GGUFFile` is alive.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer { rawBytes(try requireTensor(name)) }

    func rawBytes(_ t: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        // In range: checked by validateRanges when the file was opened.
        let start = dataOffset + t.offset
        return UnsafeRawBufferPointer(rebasing: storage.bytes[start..<(start + t.byteCount)])
    }
}
