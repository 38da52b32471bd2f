import Foundation

/// A checkpoint folder in the Hugging Face layout, loaded: the model and its tokenizer.
///
/// The folder holds `config.json`, `vocab.txt` and `model.safetensors` (and optionally
/// `tokenizer_config.json`, for `do_lower_case`). Immutable and Sendable: load once, share freely.
public struct Checkpoint: Sendable {
    public let folder: URL
    public let model: BertModel
    public let tokenizer: BertTokenizer

    public init(model: BertModel, tokenizer: BertTokenizer, folder: URL) throws {
        guard tokenizer.vocabulary.count <= model.config.vocabSize else {
            throw BertologyError.badInput(folder.appendingPathComponent("vocab.txt").path,
                "\(tokenizer.vocabulary.count) tokens, but the model's word embeddings have only \(model.config.vocabSize) rows (config.json vocab_size)")
        }
        self.folder = folder
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Loads the folder; errors name the file and what is wrong with it.
    public static func load(_ folder: URL) throws -> Checkpoint {
        _ = try BertModel.requireFile(folder, "vocab.txt")
        let model = try BertModel.load(folder: folder)
        let tokenizer = try BertTokenizer.load(folder: folder)
        return try Checkpoint(model: model, tokenizer: tokenizer, folder: folder)
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
