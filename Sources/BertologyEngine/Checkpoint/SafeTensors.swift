import Foundation

/// The element types of the safetensors format.
enum SafeTensorsDType: String, CaseIterable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
    case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32"
    case f64 = "F64", i64 = "I64", u64 = "U64"

    var byteSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: 1
        case .i16, .u16, .f16, .bf16: 2
        case .i32, .u32, .f32: 4
        case .f64, .i64, .u64: 8
        }
    }

    /// Storage types whose values Bertology converts to Float32 for compute.
    var isFloatingStorage: Bool { self == .f32 || self == .f16 || self == .bf16 }
}

/// One tensor's entry in the header (and, with the same element types, in any ``TensorFile``).
struct SafeTensorsEntry {
    let name: String
    let dtype: SafeTensorsDType
    let shape: [Int]
    /// Byte range inside the data section (after the 8-byte length and the header); where it counts
    /// from is the file's business (``TensorFile/bytes(of:)``).
    let dataRange: Range<Int>
}

/// A safetensors file mapped read-only into memory.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON
/// (`{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`),
/// then the data section. Every offset, shape and dtype is checked against the file's size before any
/// byte of data is read, so a truncated or hostile file gives an error, never a crash.
final class SafeTensorsFile: TensorFile {
    let path: String
    let entries: [String: SafeTensorsEntry]
    private let file: MappedFile
    private let dataStart: Int

    init(url: URL) throws {
        let path = url.path
        self.path = path
        let file = try MappedFile(path: path)
        let size = file.size
        guard size >= 8 else {
            throw BertologyError.badInput(path, "truncated safetensors file: \(size) bytes, but the header length alone takes 8")
        }
        let headerLength = file.base.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(size - 8) else {
            throw BertologyError.badInput(path, at: "byte 0",
                "header length \(headerLength) runs past the end of the file (\(size) bytes)")
        }
        let dataStart = 8 + Int(headerLength)
        self.entries = try Self.parseHeader(file.data(8..<dataStart), dataSize: size - dataStart, path: path)
        self.dataStart = dataStart
        self.file = file
    }

    private static func parseHeader(_ bytes: Data, dataSize: Int, path: String) throws -> [String: SafeTensorsEntry] {
        let header: JSONValue
        do {
            header = try JSONValue.parse(bytes, file: path)
        } catch let error as BertologyError {
            // The parser's reason says where: "not valid JSON (line 1, column 2: ...)".
            throw BertologyError.badInput(path, at: "header", error.reason)
        }
        guard let table = header.object else {
            throw BertologyError.badInput(path, at: "header", "expected a JSON object of tensors")
        }
        var entries: [String: SafeTensorsEntry] = [:]
        // In name order, so a file with several problems always reports the same one first.
        for (name, value) in table.sorted(by: { $0.key < $1.key }) where name != "__metadata__" {
            let location = "tensor \(name)"
            guard let fields = value.object else {
                throw BertologyError.badInput(path, at: location, "expected an object with dtype, shape and data_offsets")
            }
            guard let dtypeName = fields["dtype"]?.string else {
                throw BertologyError.badInput(path, at: location, "missing dtype")
            }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw BertologyError.badInput(path, at: location, "unknown dtype \(dtypeName)")
            }
            guard let shapeValues = fields["shape"]?.array,
                  case let shape = shapeValues.compactMap(\.integer), shape.count == shapeValues.count,
                  shape.allSatisfy({ $0 >= 0 }) else {
                throw BertologyError.badInput(path, at: location, "shape must be a list of non-negative integers")
            }
            guard let offsetValues = fields["data_offsets"]?.array,
                  case let offsets = offsetValues.compactMap(\.integer), offsets.count == 2, offsetValues.count == 2 else {
                throw BertologyError.badInput(path, at: location, "data_offsets must be two integers")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw BertologyError.badInput(path, at: location,
                    "data_offsets [\(begin), \(end)] out of range: the data section has \(dataSize) bytes")
            }
            var elements = 1
            for dimension in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow else {
                    throw BertologyError.badInput(path, at: location, "shape \(shape) is too large")
                }
                elements = product
            }
            let (expectedBytes, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow, expectedBytes == end - begin else {
                throw BertologyError.badInput(path, at: location,
                    "shape \(shape) of \(dtypeName) needs \(elements) x \(dtype.byteSize) bytes, data_offsets give \(end - begin)")
            }
            entries[name] = SafeTensorsEntry(name: name, dtype: dtype, shape: shape, dataRange: begin..<end)
        }
        return entries
    }

    func bytes(of entry: SafeTensorsEntry) -> UnsafeRawPointer {
        file.base + dataStart + entry.dataRange.lowerBound
    }
}

/// Reads whole safetensors files that are not checkpoints (fine-tuning's optimizer state): every
/// tensor, converted to Float32. Checkpoints load through ``BertModel/load(folder:)``.
public enum SafeTensorsReader {
    /// Every tensor of the file by name, as Float32 (F32, F16 and BF16 storage).
    /// - Throws: `BertologyError` `.io` when the file cannot be read, `.badInput` when it is malformed
    ///   or holds another dtype.
    public static func read(_ url: URL) throws -> [String: Tensor] {
        let file = try SafeTensorsFile(url: url)
        var tensors: [String: Tensor] = [:]
        for (name, entry) in file.entries { tensors[name] = try file.floatTensor(entry) }
        return tensors
    }
}
