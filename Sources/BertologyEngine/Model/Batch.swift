import Foundation

/// Token ids of several examples, right-padded to one length: the input of a forward pass.
public struct Batch: Sendable, Equatable {
    /// Number of examples (B).
    public let size: Int
    /// Padded length (T): every example has `sequenceLength` slots, the first `lengths[b]` real.
    public let sequenceLength: Int
    /// (B,T) token ids, padding filled with the pad id.
    public let inputIds: [Int32]
    /// (B,T) segment ids (0 for `[CLS] A [SEP]`, 1 for `B [SEP]`), padding 0.
    public let tokenTypeIds: [Int32]
    /// (B) real tokens per example.
    public let lengths: [Int32]

    /// Pads rows of ids to the longest row (or to `padTo`, for the paper's fixed-length variants).
    public init(inputIds rows: [[Int32]], tokenTypeIds typeRows: [[Int32]]? = nil, padId: Int32 = 0,
                padTo: Int? = nil) {
        precondition(!rows.isEmpty, "a batch needs at least one example")
        precondition(typeRows == nil || typeRows!.map(\.count) == rows.map(\.count), "token type ids must match input ids")
        let longest = rows.map(\.count).max() ?? 0
        let length = max(longest, padTo ?? 0)
        var ids = [Int32](repeating: padId, count: rows.count * length)
        var types = [Int32](repeating: 0, count: rows.count * length)
        for (b, row) in rows.enumerated() {
            ids.replaceSubrange(b * length..<(b * length + row.count), with: row)
            if let typeRows { types.replaceSubrange(b * length..<(b * length + row.count), with: typeRows[b]) }
        }
        self.size = rows.count
        self.sequenceLength = length
        self.inputIds = ids
        self.tokenTypeIds = types
        self.lengths = rows.map { Int32($0.count) }
    }

    /// The real (unpadded) token ids of example `b`.
    public func tokenIds(example b: Int) -> ArraySlice<Int32> {
        inputIds[(b * sequenceLength)..<(b * sequenceLength + Int(lengths[b]))]
    }

    /// Real tokens over all examples.
    public var tokenCount: Int { lengths.reduce(0) { $0 + Int($1) } }
}

extension Batch {
    /// Checks that the batch fits a model of `config`: its length within `max_position_embeddings`,
    /// every example's length in 1...T, every token id in the vocabulary and every segment id below
    /// `type_vocab_size`.
    /// - Throws: `BertologyError` `.usage` naming the first thing that does not fit.
    func validate(for config: BertConfig) throws {
        guard sequenceLength <= config.maxSequenceLength else {
            let reserved = config.maxPositionEmbeddings - config.maxSequenceLength
            throw BertologyError.usage("sequence length \(sequenceLength) exceeds max_position_embeddings \(config.maxPositionEmbeddings)"
                + (reserved > 0 ? " less the \(reserved) positions \(config.family) reserves (\(config.maxSequenceLength) tokens)" : ""))
        }
        guard sequenceLength >= 1 else { throw BertologyError.usage("empty batch: sequence length 0") }
        for (b, length) in lengths.enumerated() where length < 1 || Int(length) > sequenceLength {
            throw BertologyError.usage("example \(b) has length \(length), outside 1...\(sequenceLength)")
        }
        let vocabulary = Int32(config.vocabSize), types = Int32(config.typeVocabSize)
        if let bad = inputIds.first(where: { $0 < 0 || $0 >= vocabulary }) {
            throw BertologyError.usage("token id \(bad) is outside the model's vocabulary (0..<\(vocabulary))")
        }
        // Families without token types (RoBERTa, XLM-R, DistilBERT) never read them.
        if config.family.usesTokenTypes, let bad = tokenTypeIds.first(where: { $0 < 0 || $0 >= types }) {
            throw BertologyError.usage("token type id \(bad) is outside 0..<\(types) (type_vocab_size)")
        }
    }
}
