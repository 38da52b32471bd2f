import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// Checkpoint folders built in a temporary directory from a seeded random model, then broken on
/// purpose: every malformed input must give a BertologyError naming the file and what is wrong.
@Suite struct CheckpointTests {
    static let config = BertConfig(vocabSize: 40, hiddenSize: 12, numHiddenLayers: 2, numAttentionHeads: 3,
                                   intermediateSize: 17, maxPositionEmbeddings: 16)

    /// A valid folder: config.json, vocab.txt, model.safetensors of a random model.
    static func makeFolder(config: BertConfig = config, classifier: Bool = false,
                           tensors edit: ((inout [(name: String, tensor: Tensor)]) -> Void)? = nil) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let model = BertModel.random(config: config, seed: 7, initializerRange: 0.3, classifier: classifier)
        var tensors = model.weights.namedTensors()
        edit?(&tensors)
        try config.huggingFaceJSON().write(to: folder.appendingPathComponent("config.json"))
        try SafeTensorsWriter.encode(tensors).write(to: folder.appendingPathComponent("model.safetensors"))
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (5..<config.vocabSize).map { "w\($0)" }
        try vocab.joined(separator: "\n").appending("\n").write(to: folder.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        return folder
    }

    /// Expects loading `folder` to fail with an error whose text contains every fragment.
    func expectLoadError(_ folder: URL, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try BertModel.load(folder: folder)
            Issue.record("loading succeeded; expected an error mentioning \(fragments)", sourceLocation: sourceLocation)
        } catch let error as BertologyError {
            for fragment in fragments {
                #expect(error.description.contains(fragment), "\"\(error.description)\" lacks \"\(fragment)\"", sourceLocation: sourceLocation)
            }
            #expect(error.exitStatus == 1, sourceLocation: sourceLocation)
        } catch {
            Issue.record("not a BertologyError: \(error)", sourceLocation: sourceLocation)
        }
    }

    func rewrite(_ folder: URL, _ name: String, _ transform: (Data) -> Data) throws {
        let url = folder.appendingPathComponent(name)
        try transform(try Data(contentsOf: url)).write(to: url)
    }

    /// Replaces the safetensors header with `json` (data section kept).
    func replaceHeader(_ folder: URL, _ json: String) throws {
        try rewrite(folder, "model.safetensors") { data in
            let length = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            var result = Data()
            withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { result.append(contentsOf: $0) }
            result.append(contentsOf: Array(json.utf8))
            result.append(data.dropFirst(8 + length))
            return result
        }
    }

    func header(_ folder: URL) throws -> String {
        let data = try Data(contentsOf: folder.appendingPathComponent("model.safetensors"))
        let length = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        return String(decoding: data[8..<(8 + length)], as: UTF8.self)
    }

    // MARK: - Valid variants load the same numbers

    @Test func namesWithOrWithoutBertPrefixAndGammaBetaLoadTheSameModel() throws {
        let plain = try Self.makeFolder()
        let prefixed = try Self.makeFolder { tensors in
            tensors = tensors.map { name, tensor in
                var renamed = "bert." + name
                if renamed.contains("LayerNorm") {
                    renamed = renamed.replacingOccurrences(of: ".weight", with: ".gamma").replacingOccurrences(of: ".bias", with: ".beta")
                }
                return (renamed, tensor)
            }
        }
        let batch = Batch(inputIds: [[2, 9, 11, 3], [2, 5, 3]], tokenTypeIds: [[0, 0, 1, 1], [0, 0, 0]])
        var outputs: [[Float]] = []
        for folder in [plain, prefixed] {
            let session = InferenceSession(model: try BertModel.load(folder: folder))
            try session.forward(batch)
            outputs.append(session.lastHiddenState(example: 0) + session.sentenceEmbedding(example: 1))
        }
        #expect(outputs[0] == outputs[1])
    }

    @Test func positionIdsBufferIsAcceptedWhenItCountsUp() throws {
        let folder = try Self.makeFolder()
        // Add an I64 embeddings.position_ids entry as real checkpoints carry: 0, 1, ..., 15.
        var text = try header(folder)
        let dataSize = try Data(contentsOf: folder.appendingPathComponent("model.safetensors")).count - 8 - text.utf8.count
        text = String(text.dropLast().trimmingCharacters(in: .whitespaces).dropLast())
            + ",\"embeddings.position_ids\":{\"dtype\":\"I64\",\"shape\":[1,16],\"data_offsets\":[\(dataSize),\(dataSize + 128)]}}"
        try replaceHeader(folder, text)
        try rewrite(folder, "model.safetensors") { data in
            var result = data
            for position in 0..<16 { withUnsafeBytes(of: Int64(position).littleEndian) { result.append(contentsOf: $0) } }
            return result
        }
        _ = try BertModel.load(folder: folder)
    }

    // MARK: - Missing and unreadable files

    @Test func missingFolderAndFilesAreNamed() throws {
        expectLoadError(URL(fileURLWithPath: "/nonexistent/bertology-model"), "/nonexistent/bertology-model", "no such checkpoint folder")
        for name in ["config.json", "model.safetensors"] {
            let folder = try Self.makeFolder()
            try FileManager.default.removeItem(at: folder.appendingPathComponent(name))
            expectLoadError(folder, name, "missing")
        }
    }

    // MARK: - config.json

    @Test func badConfigJSONIsNamed() throws {
        let folder = try Self.makeFolder()
        try rewrite(folder, "config.json") { _ in Data("{\"hidden_size\": 12,".utf8) }
        expectLoadError(folder, "config.json", "not valid JSON")
    }

    @Test func configFieldsAreCheckedByName() throws {
        let cases: [(String, Any?, [String])] = [
            ("hidden_size", nil, ["hidden_size", "missing"]),
            ("hidden_size", "12", ["hidden_size", "expected an integer"]),
            ("hidden_size", 13, ["hidden_size", "not a multiple of num_attention_heads"]),
            ("num_hidden_layers", 0, ["num_hidden_layers", "at least 1"]),
            ("hidden_act", "relu", ["hidden_act", "not supported"]),
            ("model_type", "gpt2", ["model_type", "not supported"]),
            ("vocab_size", 1_000_000_000, ["vocab_size", "beyond the supported maximum"]),
            ("intermediate_size", 300_000, ["intermediate_size", "beyond the supported maximum"]),
        ]
        for (key, value, fragments) in cases {
            let folder = try Self.makeFolder()
            try rewrite(folder, "config.json") { data in
                var fields = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
                fields[key] = value
                return try! JSONSerialization.data(withJSONObject: fields)
            }
            do {
                _ = try BertModel.load(folder: folder)
                Issue.record("\(key) = \(String(describing: value)) loaded")
            } catch let error as BertologyError {
                #expect(error.description.contains("config.json"))
                for fragment in fragments { #expect(error.description.contains(fragment), "\(error)") }
            }
        }
    }

    @Test func absurdSizesAreRefusedBeforeAllocating() throws {
        // 60k x 60k x 200 layers would need terabytes: refused from config.json alone.
        let folder = try Self.makeFolder()
        try rewrite(folder, "config.json") { data in
            var fields = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
            fields["hidden_size"] = 60_000
            fields["num_attention_heads"] = 1_000
            fields["intermediate_size"] = 60_000
            fields["num_hidden_layers"] = 200
            return try! JSONSerialization.data(withJSONObject: fields)
        }
        expectLoadError(folder, "config.json", "parameters, beyond the supported")
    }

    // MARK: - model.safetensors

    @Test func truncatedFilesAreNamed() throws {
        let tiny = try Self.makeFolder()
        try rewrite(tiny, "model.safetensors") { $0.prefix(5) }
        expectLoadError(tiny, "model.safetensors", "truncated safetensors file: 5 bytes")

        let cut = try Self.makeFolder()
        try rewrite(cut, "model.safetensors") { $0.prefix($0.count - 100) }
        expectLoadError(cut, "model.safetensors", "out of range")
    }

    @Test func headerLengthPastTheEndIsNamed() throws {
        let folder = try Self.makeFolder()
        try rewrite(folder, "model.safetensors") { data in
            var result = data
            result.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Data($0) })
            return result
        }
        expectLoadError(folder, "model.safetensors", "header length 1099511627776 runs past the end of the file")
    }

    @Test func headerThatIsNotJSONIsNamed() throws {
        let folder = try Self.makeFolder()
        try replaceHeader(folder, "{not json")
        expectLoadError(folder, "model.safetensors", "header", "not valid JSON")
    }

    @Test func offsetsOutOfRangeAreNamed() throws {
        let folder = try Self.makeFolder()
        let text = try header(folder)
        let broken = text.replacingOccurrences(of: "\"data_offsets\":[0,", with: "\"data_offsets\":[0,9999999") // first tensor
        #expect(broken != text)
        try replaceHeader(folder, broken)
        expectLoadError(folder, "model.safetensors", "data_offsets", "out of range")
    }

    @Test func unsupportedAndUnknownDtypesAreNamed() throws {
        // F64 is a real safetensors dtype Bertology does not compute with: same byte count as two F32.
        let f64 = try Self.makeFolder()
        var text = try header(f64)
        text = text.replacingOccurrences(of: "\"embeddings.LayerNorm.bias\":{\"dtype\":\"F32\",\"shape\":[12]",
                                         with: "\"embeddings.LayerNorm.bias\":{\"dtype\":\"F64\",\"shape\":[6]")
        try replaceHeader(f64, text)
        expectLoadError(f64, "model.safetensors", "embeddings.LayerNorm.bias")

        let unknown = try Self.makeFolder()
        try replaceHeader(unknown, try header(unknown).replacingOccurrences(of: "\"F32\"", with: "\"Q4_K\""))
        expectLoadError(unknown, "model.safetensors", "unknown dtype Q4_K")
    }

    @Test func unsupportedDtypeOfARequiredWeightIsNamed() throws {
        let folder = try Self.makeFolder()
        // Relabel a (12) F32 bias as (12) I32: same bytes, a dtype that is not a weight format.
        try replaceHeader(folder, try header(folder).replacingOccurrences(
            of: "\"embeddings.LayerNorm.bias\":{\"dtype\":\"F32\"", with: "\"embeddings.LayerNorm.bias\":{\"dtype\":\"I32\""))
        expectLoadError(folder, "model.safetensors", "tensor embeddings.LayerNorm.bias", "unsupported dtype I32")
    }

    @Test func shapeThatDisagreesWithConfigIsNamed() throws {
        let folder = try Self.makeFolder { tensors in
            let index = tensors.firstIndex { $0.name == "encoder.layer.1.intermediate.dense.weight" }!
            tensors[index].tensor = Tensor(zeros: [16, 12])
        }
        expectLoadError(folder, "model.safetensors", "tensor encoder.layer.1.intermediate.dense.weight",
                        "shape [16, 12] disagrees with config.json (expected [17, 12])")
    }

    @Test func missingRequiredTensorIsNamed() throws {
        let folder = try Self.makeFolder { tensors in
            tensors.removeAll { $0.name == "encoder.layer.1.output.LayerNorm.weight" }
        }
        expectLoadError(folder, "model.safetensors", "tensor encoder.layer.1.output.LayerNorm.weight", "missing")
    }

    @Test func extraLayersBeyondTheConfigAreNamed() throws {
        let folder = try Self.makeFolder { tensors in
            tensors.append(("encoder.layer.2.output.dense.bias", Tensor(zeros: [12])))
        }
        expectLoadError(folder, "model.safetensors", "more layers than num_hidden_layers")
    }

    @Test func classifierMustMatchNumLabels() throws {
        var config = Self.config
        config.numLabels = 3
        let folder = try Self.makeFolder(config: config, classifier: true)
        _ = try BertModel.load(folder: folder)
        try rewrite(folder, "config.json") { data in
            var fields = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
            fields["id2label"] = ["0": "a", "1": "b"]
            return try! JSONSerialization.data(withJSONObject: fields)
        }
        expectLoadError(folder, "classifier.weight", "3 outputs, but config.json says num_labels = 2")
    }
}
