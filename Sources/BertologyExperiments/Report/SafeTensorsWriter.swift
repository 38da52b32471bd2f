import BertologyEngine
import Foundation

/// Writes Float32 tensors in the safetensors format, byte for byte as `safetensors.torch.save_file`
/// lays out an all-F32 dictionary, so `safetensors` and transformers read what Bertology writes:
///
/// - 8 bytes: the header's length N, little-endian;
/// - N bytes: compact JSON, `{"__metadata__":{"format":"pt"},"name":{"dtype":"F32","shape":[..],"data_offsets":[begin,end]},...}`,
///   tensors sorted by name (the Rust writer sorts by dtype, then name; here every dtype is F32),
///   padded with spaces to a multiple of 8 so the data section is 8-byte aligned;
/// - the data: each tensor's values, row-major, little-endian, in the header's order, with no gaps.
public enum SafeTensorsWriter {
    /// The bytes of a safetensors file holding `tensors`.
    /// - Parameters:
    ///   - tensors: names and values; names must be unique (the order given does not matter: the file is sorted by name).
    ///   - metadata: the `__metadata__` strings; `{"format": "pt"}` as torch writes it.
    /// - Returns: the whole file.
    public static func encode(_ tensors: [(name: String, tensor: Tensor)],
                              metadata: [String: String] = ["format": "pt"]) -> Data {
        var data = Data()
        stream(tensors, metadata: metadata) { data.append(contentsOf: $0) }
        return data
    }

    /// Writes `tensors` to `url` atomically (``AtomicFile``): a reader, or a crash, never sees half a file.
    /// The bytes are streamed to the file, tensor by tensor: a checkpoint's state is not copied again.
    /// - Parameters:
    ///   - tensors: names and values (written sorted by name).
    ///   - url: the file to write.
    ///   - metadata: the `__metadata__` strings.
    /// - Throws: `BertologyError` `.io` when the file cannot be written.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], to url: URL,
                             metadata: [String: String] = ["format": "pt"]) throws {
        try AtomicFile.write(to: url) { append in try stream(tensors, metadata: metadata, to: append) }
    }

    /// The file's bytes, in order, handed to `append`: the header, then each tensor's values.
    private static func stream(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String],
                               to append: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let sorted = tensors.sorted { $0.name < $1.name }
        precondition(Set(sorted.map(\.name)).count == sorted.count, "safetensors: two tensors with one name")
        var header: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            header.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for (name, tensor) in sorted {
            let bytes = tensor.count * 4
            header.append("\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        var headerBytes = Array(("{" + header.joined(separator: ",") + "}").utf8)
        // Spaces up to a multiple of 8, as the Rust writer pads: the data section starts 8-byte aligned.
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        try withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { try append($0) }
        try headerBytes.withUnsafeBytes { try append($0) }
        for (_, tensor) in sorted {
            try tensor.withUnsafeBufferPointer { values in
                #if _endian(little)
                try append(UnsafeRawBufferPointer(values))
                #else
                for value in values { try withUnsafeBytes(of: value.bitPattern.littleEndian) { try append($0) } }
                #endif
            }
        }
    }

    private static func jsonString(_ text: String) -> String {
        String(decoding: try! JSONOutput.encode(text), as: UTF8.self)
    }
}
