import Foundation

/// A `pytorch_model.bin`: a state dict as `torch.save` writes it, read without Python.
///
/// Both formats torch writes:
/// - the zip format (torch >= 1.6, the default): a ZIP archive of stored (uncompressed) records,
///   `<archive>/data.pkl` (the state dict's pickle), `<archive>/data/<key>` (each storage's raw
///   bytes), `<archive>/byteorder`, `<archive>/version`; ZIP64 for files over 4 GiB;
/// - the legacy format (torch < 1.6, the checkpoints of 2018-2019): five pickles one after the other
///   (a magic number, the protocol version 1001, the system's byte order and type sizes, the state
///   dict, the sorted storage keys), then each storage as an 8-byte element count and its bytes.
///
/// The pickle is read by ``StateDictPickle``, which runs nothing and refuses every opcode and global
/// a state dict does not need. The file is mapped, not read: tensors are copied out one at a time.
/// Tensors must be contiguous (every saved nn.Module weight is); storage offsets and storages shared
/// by several tensors (tied weights) are followed.
final class TorchCheckpointFile: TensorFile {
    let path: String
    let entries: [String: SafeTensorsEntry]
    private let file: MappedFile

    init(url: URL) throws {
        let path = url.path
        self.path = path
        let file = try MappedFile(path: path)
        self.file = file
        let base = file.base, size = file.size
        if size >= 4, base.loadUnaligned(as: UInt32.self) == UInt32(0x0403_4B50).littleEndian {
            entries = try Self.readZip(file)
        } else if size >= 2, base.load(as: UInt8.self) == 0x80 {
            entries = try Self.readLegacy(file)
        } else {
            throw BertologyError.badInput(path, at: "byte 0",
                "not a torch.save file: neither a zip archive (torch >= 1.6) nor the legacy pickle format")
        }
    }

    func bytes(of entry: SafeTensorsEntry) -> UnsafeRawPointer { file.base + entry.dataRange.lowerBound }

    // MARK: - The zip format

    private static func readZip(_ file: MappedFile) throws -> [String: SafeTensorsEntry] {
        let members = try ZipDirectory.read(file)
        // torch names the records <archive>/data.pkl, <archive>/data/0, ...: one folder level.
        let pickles = members.keys.filter { name in
            guard name.hasSuffix("data.pkl") else { return false }
            let folder = name.dropLast("data.pkl".count)
            return folder.isEmpty || (folder.hasSuffix("/") && !folder.dropLast().contains("/"))
        }
        guard pickles.count == 1, let pickleName = pickles.first, let pickle = members[pickleName] else {
            throw BertologyError.badInput(file.path, pickles.isEmpty
                ? "a zip archive without data.pkl: not a torch.save checkpoint"
                : "a zip archive with \(pickles.count) data.pkl records (\(pickles.sorted().joined(separator: ", "))): not one torch.save checkpoint")
        }
        let prefix = String(pickleName.dropLast("data.pkl".count))
        if let order = members[prefix + "byteorder"] {
            let text = String(decoding: file.data(order), as: UTF8.self)
            guard text == "little" else {
                throw BertologyError.badInput(file.path, at: prefix + "byteorder",
                    "\"\(text.prefix(20))\": Bertology reads little-endian checkpoints")
            }
        }
        var reader = StateDictPickle(base: file.base, end: pickle.upperBound, file: file.path,
                                     origin: pickle.lowerBound, place: pickleName + " ")
        let (value, _) = try reader.read(at: pickle.lowerBound)
        return try entries(of: value, objects: reader.objects, file: file.path) { storage in
            guard let record = members[prefix + "data/" + storage.key] else {
                throw BertologyError.badInput(file.path, at: prefix + "data/" + storage.key,
                    "missing: the state dict names this storage, the archive has no such record")
            }
            return (record, prefix + "data/" + storage.key)
        }
    }

    // MARK: - The legacy format

    /// The magic number that opens a legacy file (LONG1 0x1950a86a20f9469cfc6c), little-endian.
    private static let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    private static func readLegacy(_ file: MappedFile) throws -> [String: SafeTensorsEntry] {
        let path = file.path
        var reader = StateDictPickle(base: file.base, end: file.size, file: path)
        let (magicValue, afterMagic) = try reader.read(at: 0)
        guard case .bigInt(let bytes) = magicValue, bytes == magic else {
            throw BertologyError.badInput(path, at: "byte 0",
                "a pickle, but not a torch.save checkpoint (the legacy format starts with torch's magic number)")
        }
        let (version, afterVersion) = try reader.read(at: afterMagic)
        guard case .int(1001) = version else {
            throw BertologyError.badInput(path, at: "byte \(afterMagic)", "legacy format version is not 1001")
        }
        let (systemInfo, afterSystemInfo) = try reader.read(at: afterVersion)
        if case .object(let index) = systemInfo, case .dict(let items) = reader.objects[index],
           let little = items.pairs.first(where: { if case .string("little_endian") = $0.key { true } else { false } }) {
            guard case .bool(true) = little.value else {
                throw BertologyError.badInput(path, at: "byte \(afterVersion)", "written on a big-endian machine: Bertology reads little-endian checkpoints")
            }
        }
        let (stateDict, afterStateDict) = try reader.read(at: afterSystemInfo)
        let (keysValue, afterKeys) = try reader.read(at: afterStateDict)
        guard case .object(let keysIndex) = keysValue, case .list(let keyValues) = reader.objects[keysIndex] else {
            throw BertologyError.badInput(path, at: "byte \(afterStateDict)", "expected the list of storage keys after the state dict")
        }
        // The element size of each storage, from the persistent ids of the state dict's tensors.
        var storages: [String: StateDictPickle.Storage] = [:]
        for object in reader.objects {
            if case .storage(let storage) = object { storages[storage.key] = storage }
        }
        var records: [String: Range<Int>] = [:]
        var position = afterKeys
        for keyValue in keyValues {
            guard case .string(let key) = keyValue else {
                throw BertologyError.badInput(path, at: "byte \(afterStateDict)", "a storage key that is not a string")
            }
            guard let storage = storages[key] else {
                throw BertologyError.badInput(path, at: "byte \(position)", "storage \(key) is stored but no tensor uses it")
            }
            guard position <= file.size - 8 else {
                throw BertologyError.badInput(path, at: "byte \(position)", "the file ends before storage \(key) (cut short)")
            }
            let count = Int(Int64(littleEndian: (file.base + position).loadUnaligned(as: Int64.self)))
            position += 8
            let (bytes, overflow) = count.multipliedReportingOverflow(by: storage.dtype.byteSize)
            guard count >= 0, !overflow, bytes <= file.size - position else {
                throw BertologyError.badInput(path, at: "byte \(position - 8)",
                    "storage \(key) of \(count) elements runs past the end of the file (\(file.size) bytes)")
            }
            records[key] = position..<(position + bytes)
            position += bytes
        }
        return try entries(of: stateDict, objects: reader.objects, file: path) { storage in
            guard let record = records[storage.key] else {
                throw BertologyError.badInput(path, at: "storage \(storage.key)", "missing: the state dict names this storage, the file does not store it")
            }
            return (record, "storage \(storage.key)")
        }
    }

    // MARK: - The state dict

    /// The tensors of a state dict (a dict of name -> tensor), each a byte range of the file.
    /// - Parameter record: the bytes of a storage, and how to name it in errors.
    private static func entries(of value: StateDictPickle.Value, objects: [StateDictPickle.Object], file: String,
                                record: (StateDictPickle.Storage) throws -> (Range<Int>, String)) throws -> [String: SafeTensorsEntry] {
        guard case .object(let index) = value, case .dict(let items) = objects[index] else {
            throw BertologyError.badInput(file, "the pickle holds no dict: Bertology reads a state dict (tensor name -> tensor)")
        }
        var entries: [String: SafeTensorsEntry] = [:]
        for (key, value) in items.pairs {
            guard case .string(let name) = key else {
                throw BertologyError.badInput(file, "a state dict key that is not a string")
            }
            guard case .object(let tensorIndex) = value, case .tensor(let tensor) = objects[tensorIndex] else {
                throw BertologyError.badInput(file, at: "tensor \(name)",
                    "not a tensor: Bertology reads a state dict (tensor name -> tensor), not a training checkpoint")
            }
            let storage = tensor.storage
            let (range, storageName) = try record(storage)
            let size = storage.dtype.byteSize
            guard storage.elements <= range.count / size else {
                throw BertologyError.badInput(file, at: storageName,
                    "\(range.count) bytes, but tensor \(name) says its storage holds \(storage.elements) elements of \(size) bytes")
            }
            var elements = 1, overflow = false
            for dimension in tensor.shape {
                (elements, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw BertologyError.badInput(file, at: "tensor \(name)", "shape \(tensor.shape) is too large") }
            }
            // Contiguous: each stride the product of the sizes after it (a dimension of size 1 may have any stride).
            var expected = 1
            for axis in stride(from: tensor.shape.count - 1, through: 0, by: -1) {
                guard tensor.shape[axis] == 1 || tensor.strides[axis] == expected else {
                    throw BertologyError.badInput(file, at: "tensor \(name)",
                        "strides \(tensor.strides) for shape \(tensor.shape): not contiguous (re-save it with .contiguous())")
                }
                expected = expected &* tensor.shape[axis]
            }
            guard elements == 0 || (tensor.offset <= storage.viewElements && elements <= storage.viewElements - tensor.offset) else {
                throw BertologyError.badInput(file, at: "tensor \(name)",
                    "offset \(tensor.offset) and \(elements) elements run past its storage of \(storage.viewElements) elements")
            }
            let start = range.lowerBound + (storage.viewOffset + tensor.offset) * size
            entries[name] = SafeTensorsEntry(name: name, dtype: storage.dtype, shape: tensor.shape,
                                             dataRange: start..<(start + elements * size))
        }
        return entries
    }
}

/// The stored records of a ZIP archive, by name: where each one's bytes are in the file.
/// Only what torch.save writes is accepted: stored (uncompressed), unencrypted records; ZIP64
/// sizes and offsets are read when present.
enum ZipDirectory {
    static func read(_ file: MappedFile) throws -> [String: Range<Int>] {
        let base = file.base, size = file.size, path = file.path
        func u16(_ offset: Int) -> Int { Int(UInt16(littleEndian: (base + offset).loadUnaligned(as: UInt16.self))) }
        func u32(_ offset: Int) -> Int { Int(UInt32(littleEndian: (base + offset).loadUnaligned(as: UInt32.self))) }
        func u64(_ offset: Int) throws -> Int {
            let value = UInt64(littleEndian: (base + offset).loadUnaligned(as: UInt64.self))
            guard value <= UInt64(Int.max) else { throw BertologyError.badInput(path, at: "byte \(offset)", "a ZIP64 size beyond 2^63") }
            return Int(value)
        }
        func bad(_ offset: Int, _ reason: String) -> BertologyError {
            BertologyError.badInput(path, at: "byte \(offset)", reason)
        }

        // The end of central directory record: 22 bytes, then a comment of up to 65,535 bytes.
        guard size >= 22 else { throw bad(0, "a zip archive cut short (\(size) bytes; no end of central directory)") }
        var end = -1
        var candidate = size - 22
        while candidate >= max(0, size - 22 - 65_535) {
            if u32(candidate) == 0x0605_4B50 { end = candidate; break }
            candidate -= 1
        }
        guard end >= 0 else { throw bad(size, "a zip archive without its end of central directory (cut short?)") }
        var count = u16(end + 10), directorySize = u32(end + 12), directoryStart = u32(end + 16)
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryStart == 0xFFFF_FFFF {
            let locator = end - 20
            guard locator >= 0, u32(locator) == 0x0706_4B50 else {
                throw bad(end, "ZIP64 sizes without a ZIP64 end of central directory locator")
            }
            let record = try u64(locator + 8)
            guard record <= size - 56, u32(record) == 0x0606_4B50 else {
                throw bad(locator, "the ZIP64 end of central directory record is not where the locator says")
            }
            count = try u64(record + 32)
            directorySize = try u64(record + 40)
            directoryStart = try u64(record + 48)
        }
        guard directoryStart <= size, directorySize <= size - directoryStart, count <= directorySize / 46 + 1 else {
            throw bad(end, "the central directory (\(count) records, \(directorySize) bytes at \(directoryStart)) runs past the end of the file")
        }

        var members: [String: Range<Int>] = [:]
        var position = directoryStart
        let directoryEnd = directoryStart + directorySize
        for _ in 0..<count {
            guard position <= directoryEnd - 46, u32(position) == 0x0201_4B50 else {
                throw bad(position, "expected a central directory record")
            }
            let flags = u16(position + 8), method = u16(position + 10)
            var compressed = u32(position + 20), uncompressed = u32(position + 24)
            let nameLength = u16(position + 28), extraLength = u16(position + 30), commentLength = u16(position + 32)
            var local = u32(position + 42)
            let next = position + 46 + nameLength + extraLength + commentLength
            guard next <= directoryEnd else { throw bad(position, "a central directory record runs past the directory") }
            let name = String(decoding: UnsafeRawBufferPointer(start: base + position + 46, count: nameLength), as: UTF8.self)
            // ZIP64 extended information: the fields whose 32-bit value is 0xFFFFFFFF, in this order.
            var extra = position + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = u16(extra), length = u16(extra + 2)
                guard extra + 4 + length <= extraEnd else { break }
                if id == 0x0001 {
                    var field = extra + 4
                    let fieldEnd = field + length
                    func widen(_ value: inout Int) throws {
                        guard value == 0xFFFF_FFFF else { return }
                        guard field + 8 <= fieldEnd else { throw bad(extra, "a ZIP64 extra field too short for its sizes") }
                        value = try u64(field)
                        field += 8
                    }
                    try widen(&uncompressed)
                    try widen(&compressed)
                    try widen(&local)
                }
                extra += 4 + length
            }
            guard flags & 1 == 0 else { throw bad(position, "record \(name) is encrypted") }
            guard method == 0, compressed == uncompressed else {
                throw bad(position, "record \(name) is compressed (method \(method)): torch.save writes stored records")
            }
            guard local <= size - 30, u32(local) == 0x0403_4B50 else {
                throw bad(position, "record \(name): no local header at byte \(local)")
            }
            let dataStart = local + 30 + u16(local + 26) + u16(local + 28)
            guard dataStart <= size, compressed <= size - dataStart else {
                throw bad(local, "record \(name) (\(compressed) bytes) runs past the end of the file (\(size) bytes)")
            }
            members[name] = dataStart..<(dataStart + compressed)
            position = next
        }
        return members
    }
}
