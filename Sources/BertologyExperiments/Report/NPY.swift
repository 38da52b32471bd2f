import BertologyEngine
import Foundation

/// NumPy's .npy format (version 1.0), little-endian float32, C order: what `numpy.load` opens.
public enum NPY {
    /// The bytes of a .npy file holding `values` with `shape`.
    public static func encode(_ values: UnsafeBufferPointer<Float>, shape: [Int]) -> Data {
        var data = header(dtype: "<f4", count: values.count, shape: shape)
        for value in values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
        return data
    }

    /// float64 (`<f8`): for scores whose differences matter below float32's resolution (ablation
    /// sweeps).
    public static func encode(_ values: [Double], shape: [Int]) -> Data {
        var data = header(dtype: "<f8", count: values.count, shape: shape)
        for value in values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
        return data
    }

    /// Magic, version 1.0, header length and the header dictionary, padded with spaces and ending
    /// in a newline so the data starts on a 64-byte boundary (as numpy writes it).
    private static func header(dtype: String, count: Int, shape: [Int]) -> Data {
        precondition(count == shape.reduce(1, *), "\(count) values for shape \(shape)")
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(dtype)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        return data
    }

    /// The bytes of a .npy file holding `values` with `shape` (C order: the last index varies fastest).
    /// - Parameters:
    ///   - values: `shape.reduce(1, *)` values (a precondition).
    ///   - shape: the array's shape, for example `[layers, heads]`.
    public static func encode(_ values: [Float], shape: [Int]) -> Data {
        values.withUnsafeBufferPointer { encode($0, shape: shape) }
    }

    /// Reads a .npy file of little-endian float32 or float64 values in C order.
    static func read(_ url: URL) throws -> (shape: [Int], values: [Float]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw BertologyError.io(url.path, "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, file: url.path)
    }

    /// Parses the bytes of a .npy file of little-endian float32 or float64 values in C order.
    static func decode(_ data: Data, file: String) throws -> (shape: [Int], values: [Float]) {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw BertologyError.badInput(file, "not a .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else {
            guard bytes.count >= 12 else { throw BertologyError.badInput(file, "truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        }
        guard headerStart + headerLength <= bytes.count,
              let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8) else {
            throw BertologyError.badInput(file, "truncated .npy header")
        }
        guard !header.contains("'fortran_order': True") else {
            throw BertologyError.badInput(file, "Fortran-order arrays are not supported")
        }
        let itemSize: Int
        if header.contains("'<f4'") { itemSize = 4 } else if header.contains("'<f8'") { itemSize = 8 } else {
            throw BertologyError.badInput(file, "unsupported dtype (expected <f4 or <f8) in \(header)")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw BertologyError.badInput(file, "no shape in .npy header")
        }
        let shape = header[open.upperBound..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.compactMap { Int($0) }
        let count = shape.reduce(1, *)
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart == count * itemSize else {
            throw BertologyError.badInput(file, "expected \(count * itemSize) data bytes for shape \(shape), found \(bytes.count - dataStart)")
        }
        let values: [Float] = bytes.withUnsafeBytes { raw in
            (0..<count).map { index in
                let offset = dataStart + index * itemSize
                return itemSize == 4
                    ? Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                    : Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))))
            }
        }
        return (shape, values)
    }
}
