import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A regular file mapped read-only into memory, unmapped when the last reference goes: the weights
/// files (safetensors, pytorch_model.bin) are read in place, never copied whole.
final class MappedFile: @unchecked Sendable {
    let path: String
    /// The first byte (a valid pointer even for an empty file, which has no mapping).
    let base: UnsafeRawPointer
    let size: Int
    private let mapped: Bool

    /// - Throws: `BertologyError` `.io` when the file cannot be opened, is not a regular file or cannot be mapped.
    init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw BertologyError.io(path, "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw BertologyError.io(path, "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw BertologyError.io(path, "not a regular file")
        }
        let size = Int(status.st_size)
        self.size = size
        guard size > 0 else {
            base = UnsafeRawPointer(MappedFile.empty)
            mapped = false
            return
        }
        guard let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), pointer != MAP_FAILED else {
            throw BertologyError.io(path, "cannot map into memory: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(pointer)
        mapped = true
    }

    deinit {
        if mapped { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    nonisolated(unsafe) private static let empty = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)

    /// The bytes `range` (inside the file) as Data, copied.
    func data(_ range: Range<Int>) -> Data { Data(bytes: base + range.lowerBound, count: range.count) }
}
