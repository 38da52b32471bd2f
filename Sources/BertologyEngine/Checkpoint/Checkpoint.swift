import Foundation

/// A checkpoint folder in the Hugging Face layout, loaded: the model and its tokenizer.
///
/// The folder holds `config.json`, the weights (`model.safetensors` or `pytorch_model.bin`:
/// `TensorFiles.open`) and the tokenizer: `tokenizer.json`, or `vocab.txt` (and optionally
/// `tokenizer_config.json`, for `do_lower_case`). Immutable and Sendable: load once, share freely.
public struct Checkpoint: Sendable {
    /// The checkpoint folder the model and tokenizer were loaded from.
    public let folder: URL
    /// The model: configuration and weights.
    public let model: BertModel
    /// The tokenizer of `tokenizer.json`, or BERT's WordPiece of `vocab.txt`.
    public let tokenizer: Tokenizer

    /// Pairs a model with a tokenizer loaded separately.
    /// - Parameters:
    ///   - model: the model.
    ///   - tokenizer: its tokenizer.
    ///   - folder: the folder to name in reports and errors.
    /// - Throws: `BertologyError` `.badInput` when the vocabulary has more tokens than the model has embedding rows.
    public init(model: BertModel, tokenizer: Tokenizer, folder: URL) throws {
        guard tokenizer.vocabulary.count <= model.config.vocabSize else {
            throw BertologyError.badInput(tokenizer.sourceFile ?? folder.appendingPathComponent("vocab.txt").path,
                "\(tokenizer.vocabulary.count) tokens, but the model's word embeddings have only \(model.config.vocabSize) rows (config.json vocab_size)")
        }
        self.folder = folder
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Loads the folder; errors name the file and what is wrong with it.
    /// - Parameter precision: the model's precision (`BertModel.load(folder:precision:)`).
    public static func load(_ folder: URL, precision: Precision = .fp32) throws -> Checkpoint {
        if !Tokenizer.hasTokenizerFile(in: folder) { _ = try BertModel.requireFile(folder, "vocab.txt") }
        let model = try BertModel.load(folder: folder, precision: precision)
        let tokenizer = try Tokenizer.load(folder: folder)
        return try Checkpoint(model: model, tokenizer: tokenizer, folder: folder)
    }

    /// This checkpoint with its model in `precision` (`BertModel.with(precision:)`).
    public func with(precision: Precision) -> Checkpoint {
        Checkpoint(folder: folder, model: model.with(precision: precision), tokenizer: tokenizer)
    }

    private init(folder: URL, model: BertModel, tokenizer: Tokenizer) {
        self.folder = folder
        self.model = model
        self.tokenizer = tokenizer
    }

    /// The folder's name, for reports.
    public var name: String { folder.standardizedFileURL.lastPathComponent }
}

extension Batch {
    /// Pads encodings into one batch (token ids and segment ids).
    public init(encodings: [Encoding], padId: Int32 = 0, padTo: Int? = nil) {
        self.init(inputIds: encodings.map(\.inputIds), tokenTypeIds: encodings.map(\.tokenTypeIds),
                  padId: padId, padTo: padTo)
    }
}
