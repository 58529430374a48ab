#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file. Immutable after init, unmapped in deinit; views handed out
/// (`bytes`) are valid as long as the object is alive, so keep a reference next to any view.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let count: Int
    private let base: UnsafeMutableRawPointer?

    public init(path: String, populate: Bool = false) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw LoadError(.io, file: path, item: "", "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw LoadError(.io, file: path, item: "", "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw LoadError(.io, file: path, item: "", "not a regular file")
        }
        count = Int(st.st_size)
        if count == 0 {
            base = nil
            return
        }
        var flags = MAP_PRIVATE
        #if os(Linux)
        if populate { flags |= MAP_POPULATE }
        #endif
        let p = mmap(nil, count, PROT_READ, flags, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw LoadError(.io, file: path, item: "", "cannot map: \(String(cString: strerror(errno)))")
        }
        base = p
    }

    deinit {
        if let base { munmap(base, count) }
    }

    /// The whole file. Empty for an empty file.
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base.map { UnsafeRawPointer($0) }, count: count)
    }

    /// A bounds-checked sub-range; `item` names what is being read for the error message.
    public func slice(_ offset: Int, _ length: Int, item: String) throws -> UnsafeRawBufferPointer {
        guard offset >= 0, length >= 0, offset <= count, length <= count - offset else {
            throw LoadError(
                .truncated, file: path, item: item,
                "needs bytes \(offset)..<\(offset &+ length) but the file has \(count)")
        }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
    }

    /// Advise the kernel that the whole map will be read sequentially (cold-cache loads).
    public func adviseSequential() {
        if let base { _ = madvise(base, count, MADV_SEQUENTIAL | MADV_WILLNEED) }
    }
}
