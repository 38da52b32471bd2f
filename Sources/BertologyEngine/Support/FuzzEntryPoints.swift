import Foundation

/// The readers of untrusted files, callable on bytes: the entry points of the fuzz targets in
/// `Fuzz/` (`@_spi(Fuzzing) import BertologyEngine`). Not public API. Each runs exactly what loading a
/// checkpoint runs on that file and throws the same errors; the fuzz targets check that every
/// failure is a one-line `BertologyError` (docs/RELIABILITY.md).
@_spi(Fuzzing) public enum FuzzEntryPoints {
    /// `config.json`, as `BertModel.load` reads it.
    public static func config(_ data: Data) throws -> BertConfig {
        try BertConfig.parse(data, file: "config.json")
    }

    /// `vocab.txt`, as `Tokenizer.load` reads it.
    public static func vocabulary(_ data: Data) throws -> Vocabulary {
        try Vocabulary(data: data, file: "vocab.txt")
    }

    /// `tokenizer.json`, as `Tokenizer.load` reads it.
    public static func tokenizerJSON(_ data: Data) throws -> Tokenizer {
        try TokenizerJSON.parse(data, file: "tokenizer.json")
    }

    /// `tokenizer_config.json`, as `Tokenizer.load` reads it for a `vocab.txt` folder.
    public static func tokenizerOptions(_ data: Data) throws -> TokenizerOptions {
        try TokenizerOptions.parse(data, file: "tokenizer_config.json")
    }

    /// The safetensors file at `url`: its header and tensor table, then every tensor converted as
    /// the model would read it, then the weights of a model of `config` looked up by name and
    /// checked by shape (`BertWeights.load`). Returns how many tensors the header lists.
    @discardableResult
    public static func safeTensors(at url: URL, config: BertConfig) throws -> Int {
        try readEveryTensor(of: try SafeTensorsFile(url: url), config: config)
    }

    /// The `pytorch_model.bin` at `url` (either format torch.save writes): its ZIP directory or
    /// legacy framing, the state dict's pickle (read, never run), then as `safeTensors(at:config:)`.
    /// Returns how many tensors the state dict holds.
    @discardableResult
    public static func torchCheckpoint(at url: URL, config: BertConfig) throws -> Int {
        try readEveryTensor(of: try TorchCheckpointFile(url: url), config: config)
    }

    private static func readEveryTensor(of file: any TensorFile, config: BertConfig) throws -> Int {
        for entry in file.entries.values.sorted(by: { $0.name < $1.name }) {
            switch entry.dtype {
            case .f32, .f16, .bf16: _ = try file.floatTensor(entry)
            case .i64, .i32: _ = try file.integerValues(entry)
            default: break
            }
        }
        _ = try BertWeights.load(from: file, config: config)
        return file.entries.count
    }
}
