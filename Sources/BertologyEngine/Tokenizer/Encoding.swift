/// One tokenized input ready for the model: `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`, unpadded.
public struct Encoding: Sendable, Equatable {
    /// The word pieces, specials included.
    public var tokens: [String]
    /// The vocabulary id of each piece, specials included: the model's input.
    public var inputIds: [Int32]
    /// 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`.
    public var tokenTypeIds: [Int32]
    /// All 1: encodings are unpadded; batching pads later.
    public var attentionMask: [Int32]
    /// The index of the word each piece came from (Hugging Face `word_ids()`); nil for the
    /// specials the template adds. Words are counted per sequence from 0: for text, the words of the
    /// pre-tokenizer (a punctuation mark or a special token written in the text is a word);
    /// for pre-split input, the index in the given word list.
    public var wordIds: [Int?]
    /// 0 for pieces of A, 1 for pieces of B, nil for the template's specials (`sequence_ids()`).
    public var sequenceIds: [Int?]
    /// True when truncation removed pieces.
    public var truncated: Bool

    /// Number of tokens, specials included (the L of the analyses).
    public var count: Int { inputIds.count }
}
