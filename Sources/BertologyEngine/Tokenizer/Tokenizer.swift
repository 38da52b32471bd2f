import Foundation

/// BERT's WordPiece tokenizer, identical to transformers 5 `BertTokenizer` (the Rust `tokenizers`
/// backend: BertNormalizer, BertPreTokenizer, WordPiece, the `[CLS] $A [SEP] $B [SEP]` template and
/// `longest_first` truncation).
///
/// - The special tokens [PAD], [UNK], [CLS], [SEP], [MASK] are matched in the raw text, case and
///   byte exact, before any normalization, and never split: "[CLS]" in a sentence is the [CLS]
///   token, while "[cls]", "[ CLS ]" or "[C\u{0}LS]" are ordinary text.
/// - As `tok(a, b)` in transformers, an empty `pair` (or `pairWords`) means no pair.
public struct BertTokenizer: Sendable {
    /// The WordPiece vocabulary (`vocab.txt`): token strings and their ids.
    public let vocabulary: Vocabulary
    /// The normalizer settings (lower-casing, accent stripping, CJK splitting).
    public let options: TokenizerOptions

    private let wordPiece: WordPiece
    private let specialTokens: SpecialTokenMatcher
    private let specialIds: (cls: Int32, sep: Int32, pad: Int32)

    /// Creates a tokenizer from a vocabulary already loaded (it holds the five special tokens).
    /// - Parameters:
    ///   - vocabulary: the vocabulary.
    ///   - options: the normalizer settings; by default bert-base-uncased's.
    public init(vocabulary: Vocabulary, options: TokenizerOptions = .init()) {
        self.vocabulary = vocabulary
        self.options = options
        // Vocabulary checks that it holds all the special tokens.
        wordPiece = WordPiece(table: vocabulary.table, unknownId: vocabulary.id(for: "[UNK]")!)
        specialTokens = SpecialTokenMatcher(vocabulary: vocabulary)
        specialIds = (vocabulary.id(for: "[CLS]")!, vocabulary.id(for: "[SEP]")!, vocabulary.id(for: "[PAD]")!)
    }

    /// The tokenizer of a checkpoint folder: `vocab.txt`, and `tokenizer_config.json` when present.
    /// Errors name the file.
    public static func load(folder: URL) throws -> BertTokenizer {
        let vocabularyURL = folder.appendingPathComponent("vocab.txt")
        guard FileManager.default.fileExists(atPath: vocabularyURL.path) else {
            throw BertologyError.io(vocabularyURL.path, "no vocabulary file (a BERT checkpoint folder needs vocab.txt)")
        }
        let vocabulary = try Vocabulary(contentsOf: vocabularyURL)
        let options = try TokenizerOptions.load(folder: folder)
        return BertTokenizer(vocabulary: vocabulary, options: options)
    }

    /// The id of `[CLS]`, the first token of every encoding.
    public var clsId: Int32 { specialIds.cls }
    /// The id of `[SEP]`, which ends each text of an encoding.
    public var sepId: Int32 { specialIds.sep }
    /// The id of `[PAD]`, which batching fills the unused slots with.
    public var padId: Int32 { specialIds.pad }
    /// The id of `[UNK]`, given to a word WordPiece cannot split into vocabulary pieces.
    public var unkId: Int32 { wordPiece.unknownId }

    /// The word pieces of `text`, without the template's specials (transformers `tokenize`).
    public func tokenize(_ text: String) -> [String] {
        var splitter = WordSplitter(options: options, capacity: text.utf8.count)
        var pieces = PieceSequence()
        appendPieces(of: text, wordIndex: nil, to: &pieces, splitter: &splitter)
        return pieces.ids.map { vocabulary.tokens[Int($0)] }
    }

    /// `tok(text, pair)`, or with `maxLength`, `tok(text, pair, truncation="longest_first",
    /// max_length=maxLength)`. `maxLength` counts the specials; one smaller than their number
    /// (2, or 3 for a pair) truncates nothing, as in transformers 5.
    public func encode(_ text: String, pair: String? = nil, maxLength: Int? = nil) -> Encoding {
        var splitter = WordSplitter(options: options, capacity: max(text.utf8.count, pair?.utf8.count ?? 0))
        var first = PieceSequence()
        appendPieces(of: text, wordIndex: nil, to: &first, splitter: &splitter)
        guard let pair, !pair.isEmpty else {
            return assemble(first, nil, maxLength: maxLength)
        }
        var second = PieceSequence()
        appendPieces(of: pair, wordIndex: nil, to: &second, splitter: &splitter)
        return assemble(first, second, maxLength: maxLength)
    }

    /// `tok(words, pairWords, is_split_into_words=True)`, with truncation as in `encode(_:pair:maxLength:)`.
    /// Each word is normalized and pre-tokenized on its own; all its pieces carry its index.
    public func encode(words: [String], pairWords: [String]? = nil, maxLength: Int? = nil) -> Encoding {
        let longest = max(words.map(\.utf8.count).max() ?? 0, pairWords?.map(\.utf8.count).max() ?? 0)
        var splitter = WordSplitter(options: options, capacity: longest)
        var first = PieceSequence()
        for (index, word) in words.enumerated() {
            appendPieces(of: word, wordIndex: index, to: &first, splitter: &splitter)
        }
        guard let pairWords, !pairWords.isEmpty else {
            return assemble(first, nil, maxLength: maxLength)
        }
        var second = PieceSequence()
        for (index, word) in pairWords.enumerated() {
            appendPieces(of: word, wordIndex: index, to: &second, splitter: &splitter)
        }
        return assemble(first, second, maxLength: maxLength)
    }

    // MARK: - Implementation

    /// The pieces of one sequence: ids and the word each came from.
    struct PieceSequence {
        var ids: [Int32] = []
        var wordIds: [Int32] = []
    }

    /// Splits `text` on special tokens, normalizes and pre-tokenizes the rest, and runs WordPiece
    /// on each word. Pieces carry the index of their word in `text`, or `wordIndex` when given.
    private func appendPieces(of text: String, wordIndex: Int?, to pieces: inout PieceSequence,
                              splitter: inout WordSplitter) {
        splitter.removeAll()
        var text = text
        text.withUTF8 { raw in
            var segmentStart = 0
            var position = 0
            while position < raw.count {
                guard let special = specialTokens.match(raw, at: position) else {
                    position += 1
                    continue
                }
                if segmentStart < position {
                    splitter.appendText(UnsafeBufferPointer(rebasing: raw[segmentStart..<position]))
                }
                splitter.appendSpecial(id: special.id)
                position += special.length
                segmentStart = position
            }
            if segmentStart < raw.count {
                splitter.appendText(UnsafeBufferPointer(rebasing: raw[segmentStart..<raw.count]))
            }
        }
        splitter.bytes.withUnsafeBufferPointer { bytes in
            for (index, word) in splitter.words.enumerated() {
                let wordId = Int32(wordIndex ?? index)
                let added: Int
                if word.specialId >= 0 {
                    pieces.ids.append(word.specialId)
                    added = 1
                } else {
                    added = wordPiece.appendPieces(of: bytes.baseAddress! + Int(word.start),
                                                   length: Int(word.end - word.start), to: &pieces.ids)
                }
                for _ in 0..<added { pieces.wordIds.append(wordId) }
            }
        }
    }

    /// Truncates (Rust `truncate_encodings`, `LongestFirst`) and applies the template.
    private func assemble(_ first: PieceSequence, _ second: PieceSequence?, maxLength: Int?) -> Encoding {
        var firstLength = first.ids.count
        var secondLength = second?.ids.count ?? 0
        if let maxLength {
            (firstLength, secondLength) = Self.truncatedLengths(
                firstLength, second.map { _ in secondLength }, maxLength: maxLength)
        }
        let truncated = firstLength < first.ids.count || secondLength < (second?.ids.count ?? 0)

        let total = firstLength + secondLength + (second == nil ? 2 : 3)
        var inputIds: [Int32] = []
        var tokenTypeIds: [Int32] = []
        var wordIds: [Int?] = []
        var sequenceIds: [Int?] = []
        inputIds.reserveCapacity(total)
        tokenTypeIds.reserveCapacity(total)
        wordIds.reserveCapacity(total)
        sequenceIds.reserveCapacity(total)

        func appendSpecial(_ id: Int32, type: Int32) {
            inputIds.append(id)
            tokenTypeIds.append(type)
            wordIds.append(nil)
            sequenceIds.append(nil)
        }
        func appendSequence(_ sequence: PieceSequence, length: Int, type: Int32) {
            for index in 0..<length {
                inputIds.append(sequence.ids[index])
                tokenTypeIds.append(type)
                wordIds.append(Int(sequence.wordIds[index]))
                sequenceIds.append(Int(type))
            }
        }
        let (cls, sep, _) = specialIds
        appendSpecial(cls, type: 0)
        appendSequence(first, length: firstLength, type: 0)
        appendSpecial(sep, type: 0)
        if let second {
            appendSequence(second, length: secondLength, type: 1)
            appendSpecial(sep, type: 1)
        }
        let tokens = vocabulary.tokens
        return Encoding(tokens: inputIds.map { tokens[Int($0)] }, inputIds: inputIds, tokenTypeIds: tokenTypeIds,
                        attentionMask: [Int32](repeating: 1, count: inputIds.count), wordIds: wordIds,
                        sequenceIds: sequenceIds, truncated: truncated)
    }

    /// The lengths of A and B (nil: no pair) that `longest_first` truncation keeps, as Rust
    /// `tokenizers` computes them (utils/truncation.rs), for a `maxLength` that counts the
    /// template's specials (2 for one sequence, 3 for a pair).
    ///
    /// - A `maxLength` below the number of specials truncates nothing: the reference subtracts
    ///   the specials in unsigned arithmetic, which wraps around to a huge limit.
    /// - Otherwise, with `limit = maxLength - specials`: a single sequence keeps `limit` pieces. For a
    ///   pair whose total exceeds `limit`, if the shorter fits in half the limit only the longer is
    ///   cut (to `limit - shorter`); else both are cut, the shorter one (A on a tie) to `limit / 2`,
    ///   the other to `limit / 2 + limit % 2`.
    static func truncatedLengths(_ first: Int, _ second: Int?, maxLength: Int) -> (Int, Int) {
        let specials = second == nil ? 2 : 3
        guard maxLength >= specials else { return (first, second ?? 0) }
        let limit = maxLength - specials
        guard let second else { return (min(first, limit), 0) }
        if limit == 0 { return (0, 0) }
        if first + second <= limit { return (first, second) }
        let swapped = first > second
        var shorter = min(first, second)
        var longer: Int
        if shorter > limit {
            longer = shorter
        } else {
            longer = max(shorter, limit - shorter)
        }
        if shorter + longer > limit {
            shorter = limit / 2
            longer = shorter + limit % 2
        }
        let (firstTarget, secondTarget) = swapped ? (longer, shorter) : (shorter, longer)
        return (min(first, firstTarget), min(second, secondTarget))
    }
}

/// Finds the special tokens in raw UTF-8, leftmost and longest first (as the reference's
/// Aho-Corasick matcher over its added tokens, which are not normalized).
struct SpecialTokenMatcher: Sendable {
    private let tokens: [(bytes: [UInt8], id: Int32)]
    /// Whether some special token starts with the byte: most positions are rejected by one load.
    private let startsWith: [Bool]

    init(vocabulary: Vocabulary) {
        var tokens: [(bytes: [UInt8], id: Int32)] = []
        var startsWith = [Bool](repeating: false, count: 256)
        for token in Vocabulary.specialTokens {
            guard let id = vocabulary.id(for: token) else { continue }
            let bytes = Array(token.utf8)
            tokens.append((bytes, id))
            startsWith[Int(bytes[0])] = true
        }
        // Longest first, so the first match at a position is the longest one.
        self.tokens = tokens.sorted { $0.bytes.count > $1.bytes.count }
        self.startsWith = startsWith
    }

    @inline(__always)
    func match(_ text: UnsafeBufferPointer<UInt8>, at position: Int) -> (length: Int, id: Int32)? {
        guard startsWith[Int(text[position])] else { return nil }
        for token in tokens where token.bytes.count <= text.count - position {
            var equal = true
            for (offset, byte) in token.bytes.enumerated() where text[position + offset] != byte {
                equal = false
                break
            }
            if equal { return (token.bytes.count, token.id) }
        }
        return nil
    }
}
