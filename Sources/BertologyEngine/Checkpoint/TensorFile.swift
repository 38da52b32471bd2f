internal import CKernels
import Foundation

/// A file of named tensors a checkpoint's weights are read from: `model.safetensors`
/// (``SafeTensorsFile``), `pytorch_model.bin` (``TorchCheckpointFile``), or the shards an index file
/// lists (``ShardedTensorFile``). `BertWeights.load` reads any of them the same way: every entry's
/// name, dtype and shape are known (and checked against the file's size) before any value is read.
protocol TensorFile: AnyObject {
    /// The file as the user named it (errors name it).
    var path: String { get }
    /// Every tensor by name.
    var entries: [String: SafeTensorsEntry] { get }
    /// The first byte of `entry`'s values (`entry.dataRange.count` bytes, no alignment guarantee).
    func bytes(of entry: SafeTensorsEntry) -> UnsafeRawPointer
}

extension TensorFile {
    /// The tensor's values converted to Float32 (F32, F16 and BF16 storage).
    func floatTensor(_ entry: SafeTensorsEntry) throws -> Tensor {
        guard entry.dtype.isFloatingStorage else {
            throw BertologyError.badInput(path, at: "tensor \(entry.name)",
                "unsupported dtype \(entry.dtype.rawValue): Bertology reads F32, F16 and BF16 weights")
        }
        let tensor = Tensor(zeros: entry.shape)
        let count = tensor.count
        let source = bytes(of: entry)
        switch entry.dtype {
        case .f32:
            // The data has no alignment guarantee: copy bytes, not Floats.
            UnsafeMutableRawPointer(tensor.mutablePointer).copyMemory(from: source, byteCount: count * 4)
        case .f16, .bf16:
            // Aligned to 2 in every real file; copy through a buffer when it is not.
            let convert = entry.dtype == .f16 ? ck_convert_f16_to_f32 : ck_convert_bf16_to_f32
            if Int(bitPattern: source) % 2 == 0 {
                convert(tensor.mutablePointer, source.assumingMemoryBound(to: UInt16.self), count)
            } else {
                let copy = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, count))
                defer { copy.deallocate() }
                UnsafeMutableRawPointer(copy).copyMemory(from: source, byteCount: count * 2)
                convert(tensor.mutablePointer, copy, count)
            }
        default:
            break
        }
        return tensor
    }

    /// An integer tensor's values (I64 or I32), for buffers such as `embeddings.position_ids`.
    func integerValues(_ entry: SafeTensorsEntry) throws -> [Int] {
        let count = entry.shape.reduce(1, *)
        let source = bytes(of: entry)
        switch entry.dtype {
        case .i64: return (0..<count).map { Int((source + 8 * $0).loadUnaligned(as: Int64.self).littleEndian) }
        case .i32: return (0..<count).map { Int((source + 4 * $0).loadUnaligned(as: Int32.self).littleEndian) }
        default:
            throw BertologyError.badInput(path, at: "tensor \(entry.name)",
                "unsupported dtype \(entry.dtype.rawValue) for an integer buffer (expected I64 or I32)")
        }
    }
}

/// The weights file of a checkpoint folder.
enum TensorFiles {
    /// The weights files a folder may hold, in the order they are looked for (the first present wins,
    /// as transformers prefers safetensors).
    static let names = ["model.safetensors", "model.safetensors.index.json",
                        "pytorch_model.bin", "pytorch_model.bin.index.json"]

    /// Opens the folder's weights: `model.safetensors`, else the shards `model.safetensors.index.json`
    /// lists, else `pytorch_model.bin`, else the shards of `pytorch_model.bin.index.json`.
    /// - Throws: `BertologyError` `.io` naming `model.safetensors` when the folder has none of them.
    static func open(folder: URL) throws -> any TensorFile {
        for name in names {
            let url = folder.appendingPathComponent(name)
            // A name that exists but is not a file (a folder, a broken link) is reported by the reader.
            guard FileManager.default.fileExists(atPath: url.path) || isSymbolicLink(url) else { continue }
            return try open(url)
        }
        throw BertologyError.io(folder.appendingPathComponent("model.safetensors").path,
            "missing (a checkpoint folder needs config.json, vocab.txt and the weights: model.safetensors or pytorch_model.bin)")
    }

    /// Opens one weights file by its name's ending: `.safetensors`, `.bin`, or an `.index.json` of shards.
    static func open(_ url: URL) throws -> any TensorFile {
        let name = url.lastPathComponent
        if name.hasSuffix(".index.json") { return try ShardedTensorFile(index: url) }
        if name.hasSuffix(".bin") { return try TorchCheckpointFile(url: url) }
        return try SafeTensorsFile(url: url)
    }

    private static func isSymbolicLink(_ url: URL) -> Bool {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: url.path)) != nil
    }
}

/// A checkpoint saved in shards: `model.safetensors.index.json` or `pytorch_model.bin.index.json`
/// (`{"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}`), each shard a
/// safetensors or .bin file in the same folder. Every tensor must be in the shard the map names.
final class ShardedTensorFile: TensorFile {
    let path: String
    let entries: [String: SafeTensorsEntry]
    private let shards: [any TensorFile]
    private let shardOfTensor: [String: Int]

    init(index url: URL) throws {
        path = url.path
        let map: [String: JSONValue]
        do {
            guard let object = try JSONValue.parse(try InputFile.read(url), file: path).object else {
                throw BertologyError.badInput(path, "expected a JSON object with a weight_map")
            }
            guard let weightMap = object["weight_map"]?.object, !weightMap.isEmpty else {
                throw BertologyError.badInput(path, at: "weight_map", "missing or empty (expected tensor name -> shard file)")
            }
            map = weightMap
        }
        var shardIndex: [String: Int] = [:]
        var shards: [any TensorFile] = []
        var entries: [String: SafeTensorsEntry] = [:]
        var shardOfTensor: [String: Int] = [:]
        let folder = url.deletingLastPathComponent()
        for (name, value) in map.sorted(by: { $0.key < $1.key }) {
            guard let shard = value.string, !shard.isEmpty, !shard.contains("/"), shard != ".", shard != ".." else {
                throw BertologyError.badInput(path, at: "weight_map.\(name)", "expected the file name of a shard in the same folder")
            }
            let index: Int
            if let known = shardIndex[shard] {
                index = known
            } else {
                let shardURL = folder.appendingPathComponent(shard)
                guard !shard.hasSuffix(".index.json") else {
                    throw BertologyError.badInput(path, at: "weight_map.\(name)", "a shard cannot be another index file")
                }
                guard FileManager.default.fileExists(atPath: shardURL.path) else {
                    throw BertologyError.io(shardURL.path, "missing (\(url.lastPathComponent) lists it as a shard)")
                }
                index = shards.count
                shards.append(try TensorFiles.open(shardURL))
                shardIndex[shard] = index
            }
            guard let entry = shards[index].entries[name] else {
                throw BertologyError.badInput(shards[index].path, at: "tensor \(name)",
                    "missing (\(url.lastPathComponent) says this shard holds it)")
            }
            entries[name] = entry
            shardOfTensor[name] = index
        }
        self.entries = entries
        self.shards = shards
        self.shardOfTensor = shardOfTensor
    }

    func bytes(of entry: SafeTensorsEntry) -> UnsafeRawPointer {
        shards[shardOfTensor[entry.name]!].bytes(of: entry)
    }
}
