import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// `pytorch_model.bin` in both formats torch.save writes, against the same tensors written by the
/// safetensors library (Tests/BertologyTests/Fixtures/bin/, tools/reference/make_bin_fixtures.py):
/// every tensor bit for bit, the whole forward pass bit for bit, and the refusals.
@Suite struct TorchCheckpointTests {
    static let bin = TestPaths.fixture("bin")

    /// Each .bin fixture and the safetensors file holding the same tensors.
    static let pairs: [(bin: String, safetensors: String)] = [
        ("classifier/zip-f32.bin", "classifier/f32.safetensors"),
        ("classifier/legacy-f32.bin", "classifier/f32.safetensors"),
        ("classifier/zip-f16.bin", "classifier/f16.safetensors"),
        ("classifier/legacy-f16.bin", "classifier/f16.safetensors"),
        ("pretraining/legacy.bin", "pretraining/model.safetensors"),
    ]

    static func bytes(_ file: any TensorFile, _ entry: SafeTensorsEntry) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: file.bytes(of: entry), count: entry.dataRange.count))
    }

    @Test(arguments: pairs.map(\.bin))
    func everyTensorOfTheBinEqualsTheSafetensorsOneBitForBit(_ name: String) throws {
        let other = try #require(Self.pairs.first { $0.bin == name }).safetensors
        let bin = try TorchCheckpointFile(url: Self.bin.appendingPathComponent(name))
        let reference = try SafeTensorsFile(url: Self.bin.appendingPathComponent(other))
        #expect(Set(bin.entries.keys) == Set(reference.entries.keys))
        #expect(bin.entries.count > 20)
        for (tensorName, expected) in reference.entries {
            let entry = try #require(bin.entries[tensorName], "\(tensorName)")
            #expect(entry.dtype == expected.dtype && entry.shape == expected.shape, "\(tensorName)")
            #expect(Self.bytes(bin, entry) == Self.bytes(reference, expected), "\(tensorName)")
            if entry.dtype.isFloatingStorage {
                let mine = try bin.floatTensor(entry), theirs = try reference.floatTensor(expected)
                #expect(Array(UnsafeBufferPointer(start: mine.pointer, count: mine.count))
                        == Array(UnsafeBufferPointer(start: theirs.pointer, count: theirs.count)), "\(tensorName)")
            } else {
                #expect(try bin.integerValues(entry) == reference.integerValues(expected), "\(tensorName)")
            }
        }
    }

    @Test func sharedStoragesAndStorageOffsetsAreFollowed() throws {
        // Layer 0's query, key and value are row slices of one storage: consecutive ranges of one record.
        for name in ["classifier/zip-f32.bin", "classifier/legacy-f32.bin"] {
            let file = try TorchCheckpointFile(url: Self.bin.appendingPathComponent(name))
            let ranges = try ["query", "key", "value"].map { part in
                try #require(file.entries["bert.encoder.layer.0.attention.self.\(part).weight"]).dataRange
            }
            #expect(ranges[0].upperBound == ranges[1].lowerBound && ranges[1].upperBound == ranges[2].lowerBound, "\(name)")
            #expect(ranges.allSatisfy { $0.count == 15 * 15 * 4 }, "\(name)")
        }
        // The tied decoder of a pre-training checkpoint: two names, one storage.
        let tied = try TorchCheckpointFile(url: Self.bin.appendingPathComponent("pretraining/legacy.bin"))
        #expect(tied.entries["cls.predictions.decoder.weight"]?.dataRange == tied.entries["bert.embeddings.word_embeddings.weight"]?.dataRange)
        #expect(tied.entries["bert.embeddings.position_ids"]?.dtype == .i64)
    }

    /// A checkpoint folder in a temporary directory: the fixture's config.json and vocab.txt, and `files` (name -> source).
    static func folder(_ fixture: String, _ files: [String: URL]) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-bin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in ["config.json", "vocab.txt"] {
            try FileManager.default.copyItem(at: bin.appendingPathComponent(fixture).appendingPathComponent(name),
                                             to: folder.appendingPathComponent(name))
        }
        for (name, source) in files { try FileManager.default.copyItem(at: source, to: folder.appendingPathComponent(name)) }
        return folder
    }

    static func outputs(of folder: URL) throws -> [Float] {
        let checkpoint = try Checkpoint.load(folder)
        let session = InferenceSession(model: checkpoint.model)
        let texts = ["the man plays guitar", "a small dog runs in the park"]
        let batch = Batch(encodings: texts.map { checkpoint.tokenizer.encode($0) }, padId: checkpoint.tokenizer.padId)
        try session.forward(batch)
        return (0..<2).flatMap { session.lastHiddenState(example: $0) + (session.logits(example: $0) ?? []) }
    }

    @Test(arguments: ["zip-f32", "legacy-f32", "zip-f16", "legacy-f16"])
    func aBinCheckpointRunsTheSameForwardAsItsSafetensors(_ name: String) throws {
        let source = Self.bin.appendingPathComponent("classifier")
        let binFolder = try Self.folder("classifier", ["pytorch_model.bin": source.appendingPathComponent("\(name).bin")])
        let reference = try Self.folder("classifier", [
            "model.safetensors": source.appendingPathComponent(name.hasSuffix("f16") ? "f16.safetensors" : "f32.safetensors")])
        defer { for folder in [binFolder, reference] { try? FileManager.default.removeItem(at: folder) } }
        let mine = try Self.outputs(of: binFolder), theirs = try Self.outputs(of: reference)
        #expect(mine.count > 30 && mine == theirs)
    }

    @Test func aPaperEraCheckpointLoads() throws {
        // Legacy format, gamma/beta, the tied MLM head (not used), position_ids.
        let source = Self.bin.appendingPathComponent("pretraining")
        let binFolder = try Self.folder("pretraining", ["pytorch_model.bin": source.appendingPathComponent("legacy.bin")])
        let reference = try Self.folder("pretraining", ["model.safetensors": source.appendingPathComponent("model.safetensors")])
        defer { for folder in [binFolder, reference] { try? FileManager.default.removeItem(at: folder) } }
        #expect(try Self.outputs(of: binFolder) == Self.outputs(of: reference))
    }

    @Test func shardsListedByAnIndexLoadAsOneFile() throws {
        let source = try SafeTensorsFile(url: Self.bin.appendingPathComponent("classifier/f32.safetensors"))
        let names = source.entries.keys.sorted()
        let halves = [Array(names[..<(names.count / 2)]), Array(names[(names.count / 2)...])]
        let sharded = try Self.folder("classifier", [:])
        defer { try? FileManager.default.removeItem(at: sharded) }
        var map: [String: String] = [:]
        for (index, half) in halves.enumerated() {
            let file = "model-0000\(index + 1)-of-00002.safetensors"
            try SafeTensorsWriter.encode(try half.map { ($0, try source.floatTensor(source.entries[$0]!)) })
                .write(to: sharded.appendingPathComponent(file))
            for name in half { map[name] = file }
        }
        try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": map])
            .write(to: sharded.appendingPathComponent("model.safetensors.index.json"))
        let reference = try Self.folder("classifier", ["model.safetensors": Self.bin.appendingPathComponent("classifier/f32.safetensors")])
        defer { try? FileManager.default.removeItem(at: reference) }
        #expect(try Self.outputs(of: sharded) == Self.outputs(of: reference))

        map[names[0]] = "model-00002-of-00002.safetensors"
        try JSONSerialization.data(withJSONObject: ["weight_map": map])
            .write(to: sharded.appendingPathComponent("model.safetensors.index.json"))
        #expect(throws: BertologyError.badInput(sharded.appendingPathComponent("model-00002-of-00002.safetensors").path,
                                                at: "tensor \(names[0])", "missing (model.safetensors.index.json says this shard holds it)")) {
            try BertModel.load(folder: sharded)
        }
    }

    @Test func aFolderWithoutWeightsNamesBothFormats() throws {
        let empty = try Self.folder("classifier", [:])
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(throws: BertologyError.io(empty.appendingPathComponent("model.safetensors").path,
            "missing (a checkpoint folder needs config.json, vocab.txt and the weights: model.safetensors or pytorch_model.bin)")) {
            try BertModel.load(folder: empty)
        }
    }

    // MARK: - Refusals

    /// Pickles that would run code under Python's pickle: refused at the opcode or global, never run.
    @Test(arguments: [
        ("global-os-system", "byte 2", "pickle global os.system is not allowed"),
        ("reduce-builtins-eval", "byte 2", "pickle global builtins.eval is not allowed"),
        ("reduce-storage-type", "byte 23", "pickle opcode REDUCE calls torch.FloatStorage, which is not allowed"),
        ("inst", "byte 18", "pickle opcode INST (0x69) is not allowed"),
        ("obj", "byte 28", "pickle opcode OBJ (0x6F) is not allowed"),
    ])
    func hostilePicklesAreRefusedNotRun(_ name: String, _ location: String, _ reason: String) throws {
        for framing in ["zip", "legacy"] {
            let url = Self.bin.appendingPathComponent("refused/\(framing)-\(name).bin")
            do {
                _ = try TorchCheckpointFile(url: url)
                Issue.record("\(framing)-\(name) was accepted")
            } catch let error as BertologyError {
                #expect(error.kind == .badInput)
                #expect(error.file == url.path)
                #expect(error.location == (framing == "zip" ? "archive/data.pkl \(location)" : location))
                #expect(error.reason.hasPrefix(reason) && error.reason.hasSuffix("(nothing was run)"), "\(error)")
            }
        }
    }

    @Test func aTransposedTensorIsRefused() throws {
        let url = Self.bin.appendingPathComponent("refused/transposed.bin")
        #expect(throws: BertologyError.badInput(url.path, at: "tensor weight",
                                                "strides [1, 4] for shape [4, 3]: not contiguous (re-save it with .contiguous())")) {
            try TorchCheckpointFile(url: url)
        }
    }

    /// Every prefix of a checkpoint (every 11th length) and every single-byte change of the legacy
    /// pickle's first 600 bytes: an entry table or a BertologyError, never a crash.
    @Test func cutAndCorruptedFilesGiveErrorsNotCrashes() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-bin-cut-\(UUID().uuidString).bin")
        defer { try? FileManager.default.removeItem(at: scratch) }
        for name in ["classifier/zip-f16.bin", "pretraining/legacy.bin"] {
            let data = try Data(contentsOf: Self.bin.appendingPathComponent(name))
            for length in stride(from: 0, to: data.count, by: 11) {
                try data.prefix(length).write(to: scratch)
                #expect(throws: BertologyError.self, "\(name) cut to \(length) bytes") { try TorchCheckpointFile(url: scratch) }
            }
        }
        let legacy = try Data(contentsOf: Self.bin.appendingPathComponent("pretraining/legacy.bin"))
        for offset in 0..<600 {
            var changed = legacy
            changed[offset] ^= 0x5A
            try changed.write(to: scratch)
            do {
                let file = try TorchCheckpointFile(url: scratch)
                for entry in file.entries.values where entry.dtype.isFloatingStorage { _ = try? file.floatTensor(entry) }
            } catch is BertologyError {
            }
        }
    }
}
