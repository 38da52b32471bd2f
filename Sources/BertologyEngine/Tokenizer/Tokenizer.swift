import Foundation

/// The tokenizer of a checkpoint: the Hugging Face `tokenizers` pipeline (added tokens,
/// normalizer, pre-tokenizer, model, post-processor), identical to the Rust library (0.23) and so
/// to transformers 5.
///
/// `Tokenizer.load(folder:)` reads `tokenizer.json` when the folder has one (docs/TOKENIZERS.md
/// lists the components it reads), else `vocab.txt` (and `tokenizer_config.json`) as BERT's
/// WordPiece. BERT's pipeline (BertNormalizer, BertPreTokenizer, WordPiece), from either file,
/// runs on a fused fast path (`WordSplitter`, `WordPiece`); every other pipeline runs component by
/// component on Unicode scalars.
///
/// - Added (special) tokens are matched in the raw text before normalization (or, for those marked
///   `normalized`, in the normalized text) and never split: "[CLS]" in a sentence is the [CLS]
///   token, while "[cls]" or "[ CLS ]" are ordinary text.
/// - As `tok(a, b)` in transformers, an empty `pair` (or `pairWords`) means no pair.
/// - `Encoding.tokens` are the vocabulary entries of the ids.
public struct Tokenizer: Sendable {
    /// The vocabulary: the model's tokens and the added tokens, by id.
    public let vocabulary: Vocabulary
    /// BERT's normalizer settings (lower-casing, accent stripping, CJK splitting): those of
    /// `tokenizer_config.json` for a `vocab.txt` folder, of the BertNormalizer of `tokenizer.json`,
    /// or the defaults when the pipeline has no BertNormalizer.
    public let options: TokenizerOptions
    /// The file the tokenizer was read from (`vocab.txt` or `tokenizer.json`), for messages.
    public let sourceFile: String?

    let pipeline: Pipeline
    private let specialIds: (cls: Int32, sep: Int32)
    /// The padding id when the tokenizer names one (`padding.pad_id`, else an added [PAD] or <pad>).
    public let declaredPadId: Int32?
    /// Ids of the added tokens marked special.
    private let specialTokenIds: Set<Int32>

    /// Creates BERT's tokenizer from a vocabulary already loaded (it holds the five special tokens).
    /// - Parameters:
    ///   - vocabulary: the vocabulary.
    ///   - options: the normalizer settings; by default bert-base-uncased's.
    public init(vocabulary: Vocabulary, options: TokenizerOptions = .init()) {
        let wordPiece = WordPiece(table: vocabulary.table, unknownId: vocabulary.id(for: "[UNK]")!)
        let added = Vocabulary.specialTokens.map {
            AddedToken(id: vocabulary.id(for: $0)!, content: $0, singleWord: false, lstrip: false, rstrip: false,
                       normalized: false, special: true)
        }
        let cls = vocabulary.id(for: "[CLS]")!, sep = vocabulary.id(for: "[SEP]")!
        let pipeline = Pipeline(
            normalizer: .bert(cleanText: true, handleChineseChars: options.tokenizeChineseChars,
                              stripAccents: options.stripAccents, lowercase: options.doLowerCase),
            preTokenizer: .bert, model: .wordPiece(wordPiece), postProcessor: .bert(cls: cls, sep: sep),
            addedTokens: added, vocabulary: vocabulary)
        self.init(vocabulary: vocabulary, options: options, pipeline: pipeline, cls: cls, sep: sep,
                  padId: vocabulary.id(for: "[PAD]"), sourceFile: nil)
    }

    init(vocabulary: Vocabulary, options: TokenizerOptions, pipeline: Pipeline, cls: Int32, sep: Int32,
         padId: Int32?, sourceFile: String?) {
        self.vocabulary = vocabulary
        self.options = options
        self.pipeline = pipeline
        self.specialIds = (cls, sep)
        self.declaredPadId = padId
        self.specialTokenIds = Set(pipeline.addedTokens.filter(\.special).map(\.id))
        self.sourceFile = sourceFile
    }

    /// The tokenizer of a checkpoint folder: `tokenizer.json` when present, else `vocab.txt` (and
    /// `tokenizer_config.json`). A SentencePiece-only folder is an error that says how to convert
    /// it. Errors name the file (and the JSON path).
    public static func load(folder: URL) throws -> Tokenizer {
        let json = folder.appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json.path) {
            return try TokenizerJSON.load(json, folder: folder)
        }
        let vocabularyURL = folder.appendingPathComponent("vocab.txt")
        guard FileManager.default.fileExists(atPath: vocabularyURL.path) else {
            if let model = sentencePieceModel(in: folder) {
                throw BertologyError.badInput(
                    model.path, "a SentencePiece model without tokenizer.json is not read; convert it once with "
                        + "transformers (AutoTokenizer.from_pretrained(folder).save_pretrained(folder) writes tokenizer.json)")
            }
            throw BertologyError.io(vocabularyURL.path,
                                    "no tokenizer (a checkpoint folder needs tokenizer.json or vocab.txt)")
        }
        let vocabulary = try Vocabulary(contentsOf: vocabularyURL)
        let options = try TokenizerOptions.load(folder: folder)
        let bert = Tokenizer(vocabulary: vocabulary, options: options)
        return Tokenizer(vocabulary: bert.vocabulary, options: options, pipeline: bert.pipeline, cls: bert.clsId,
                         sep: bert.sepId, padId: bert.declaredPadId, sourceFile: vocabularyURL.path)
    }

    /// Whether the folder holds a tokenizer file other than `vocab.txt` (`tokenizer.json`, or a
    /// SentencePiece model, which `load` refuses with a message that says how to convert it).
    public static func hasTokenizerFile(in folder: URL) -> Bool {
        FileManager.default.fileExists(atPath: folder.appendingPathComponent("tokenizer.json").path)
            || sentencePieceModel(in: folder) != nil
    }

    static func sentencePieceModel(in folder: URL) -> URL? {
        for name in ["spiece.model", "sentencepiece.bpe.model", "spm.model", "tokenizer.model"] {
            let url = folder.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        return nil
    }

    /// The id of the first special token of an encoding (`[CLS]`, or `<s>` for RoBERTa-style
    /// tokenizers).
    public var clsId: Int32 { specialIds.cls }
    /// The id of the special token that ends each text of an encoding (`[SEP]`, or `</s>`).
    public var sepId: Int32 { specialIds.sep }
    /// The id batching fills unused slots with: `declaredPadId`, else 0.
    public var padId: Int32 { declaredPadId ?? 0 }
    /// The id of the unknown token (`[UNK]`, `<unk>`); for a model without one, -1.
    public var unkId: Int32 { pipeline.unknownId ?? -1 }
    /// Number of ids (the model's tokens and the added tokens).
    public var vocabularySize: Int { vocabulary.count }

    /// Whether `id` is a special token: an added token marked special, or one the post-processor adds.
    public func isSpecial(id: Int32) -> Bool {
        specialTokenIds.contains(id) || id == specialIds.cls || id == specialIds.sep
    }

    /// The text a vocabulary entry stands for, without its pre-tokenizer's word-boundary marks:
    /// byte-level entries decoded to their UTF-8 ("Ġ," is ","), Metaspace's "▁" removed, spaces at
    /// either end trimmed; WordPiece entries as they are ("##s"). Nil for an id outside the vocabulary.
    public func surfaceText(of id: Int32) -> String? {
        guard let token = vocabulary.token(for: id) else { return nil }
        switch pipeline.tokenMarks {
        case .none:
            return token
        case .byteLevel:
            var bytes: [UInt8] = []
            for scalar in token.unicodeScalars {
                if let byte = ByteLevelAlphabet.byte(of: scalar) { bytes.append(byte) } else { bytes.append(contentsOf: String(scalar).utf8) }
            }
            return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .init(charactersIn: " "))
        case .metaspace(let replacement):
            return String(String.UnicodeScalarView(token.unicodeScalars.map { $0 == replacement ? " " : $0 }))
                .trimmingCharacters(in: .init(charactersIn: " "))
        }
    }

    /// The pieces of `text`, without the post-processor's specials (transformers `tokenize`).
    public func tokenize(_ text: String) -> [String] {
        pipeline.pieces(of: text, wordIndex: nil).ids.map { vocabulary.tokens[Int($0)] }
    }

    /// `tok(text, pair)`, or with `maxLength`, `tok(text, pair, truncation="longest_first",
    /// max_length=maxLength)`. `maxLength` counts the specials; one smaller than their number
    /// truncates nothing, as in transformers 5.
    public func encode(_ text: String, pair: String? = nil, maxLength: Int? = nil) -> Encoding {
        let first = pipeline.pieces(of: text, wordIndex: nil)
        guard let pair, !pair.isEmpty else {
            return assemble(first, nil, maxLength: maxLength)
        }
        return assemble(first, pipeline.pieces(of: pair, wordIndex: nil), maxLength: maxLength)
    }

    /// `tok(words, pairWords, is_split_into_words=True)`, with truncation as in `encode(_:pair:maxLength:)`.
    /// Each word goes through the pipeline on its own; all its pieces carry its index.
    public func encode(words: [String], pairWords: [String]? = nil, maxLength: Int? = nil) -> Encoding {
        var first = PieceSequence()
        for (index, word) in words.enumerated() { first.append(pipeline.pieces(of: word, wordIndex: index)) }
        guard let pairWords, !pairWords.isEmpty else {
            return assemble(first, nil, maxLength: maxLength)
        }
        var second = PieceSequence()
        for (index, word) in pairWords.enumerated() { second.append(pipeline.pieces(of: word, wordIndex: index)) }
        return assemble(first, second, maxLength: maxLength)
    }

    // MARK: - Implementation

    /// Truncates (Rust `truncate_encodings`, `LongestFirst`) and runs the post-processor.
    private func assemble(_ first: PieceSequence, _ second: PieceSequence?, maxLength: Int?) -> Encoding {
        var firstLength = first.ids.count
        var secondLength = second?.ids.count ?? 0
        let processor = pipeline.postProcessor
        if let maxLength {
            (firstLength, secondLength) = Self.truncatedLengths(
                firstLength, second.map { _ in secondLength }, maxLength: maxLength,
                specials: processor.addedCount(pair: second != nil))
        }
        let truncated = firstLength < first.ids.count || secondLength < (second?.ids.count ?? 0)

        var inputIds: [Int32] = []
        var tokenTypeIds: [Int32] = []
        var wordIds: [Int?] = []
        var sequenceIds: [Int?] = []
        let total = firstLength + secondLength + processor.addedCount(pair: second != nil)
        inputIds.reserveCapacity(total)
        tokenTypeIds.reserveCapacity(total)
        wordIds.reserveCapacity(total)
        sequenceIds.reserveCapacity(total)

        for part in processor.template(pair: second != nil) {
            switch part {
            case .special(let ids, let type):
                for id in ids {
                    inputIds.append(id)
                    tokenTypeIds.append(type)
                    wordIds.append(nil)
                    sequenceIds.append(nil)
                }
            case .sequence(let isSecond, let type):
                guard let sequence = isSecond ? second : first else { continue }
                let length = isSecond ? secondLength : firstLength
                for index in 0..<length {
                    inputIds.append(sequence.ids[index])
                    tokenTypeIds.append(type)
                    wordIds.append(Int(sequence.wordIds[index]))
                    sequenceIds.append(isSecond ? 1 : 0)
                }
            }
        }
        let tokens = vocabulary.tokens
        return Encoding(tokens: inputIds.map { tokens[Int($0)] }, inputIds: inputIds, tokenTypeIds: tokenTypeIds,
                        attentionMask: [Int32](repeating: 1, count: inputIds.count), wordIds: wordIds,
                        sequenceIds: sequenceIds, truncated: truncated)
    }

    /// The lengths of A and B (nil: no pair) that `longest_first` truncation keeps, as Rust
    /// `tokenizers` computes them (utils/truncation.rs), for a `maxLength` that counts the
    /// post-processor's `specials` (BERT: 2 for one sequence, 3 for a pair).
    ///
    /// - A `maxLength` below the number of specials truncates nothing: the reference subtracts
    ///   the specials in unsigned arithmetic, which wraps around to a huge limit.
    /// - Otherwise, with `limit = maxLength - specials`: a single sequence keeps `limit` pieces. For a
    ///   pair whose total exceeds `limit`, if the shorter fits in half the limit only the longer is
    ///   cut (to `limit - shorter`); else both are cut, the shorter one (A on a tie) to `limit / 2`,
    ///   the other to `limit / 2 + limit % 2`.
    static func truncatedLengths(_ first: Int, _ second: Int?, maxLength: Int, specials: Int? = nil) -> (Int, Int) {
        let specials = specials ?? (second == nil ? 2 : 3)
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

/// transformers' `BertTokenizer` is one configuration of `Tokenizer`.
public typealias BertTokenizer = Tokenizer

/// The pieces of one sequence: ids and the word each came from.
struct PieceSequence {
    var ids: [Int32] = []
    var wordIds: [Int32] = []

    mutating func append(_ other: PieceSequence) {
        ids.append(contentsOf: other.ids)
        wordIds.append(contentsOf: other.wordIds)
    }
}

/// What the post-processor puts around the sequences.
enum PostProcessor: Sendable {
    /// `TemplateProcessing`: the parts of the single and pair templates.
    /// The first case on purpose: Swift keeps a multi-payload enum's case number in the spare (high) bits of the
    /// payload's pointers, and only the first case's number, 0, leaves them a plain address. LeakSanitizer finds a
    /// heap object only through plain addresses, so with this case later it reported the pair template's array
    /// of every tokenizer alive at exit as leaked (a false report, but one that fails the sanitized test run).
    case template(single: [TemplatePart], pair: [TemplatePart])
    /// `[CLS] A [SEP]`, `[CLS] A [SEP] B [SEP]`; types 0, then 1 for `B [SEP]`.
    case bert(cls: Int32, sep: Int32)
    /// `<s> A </s>`, `<s> A </s> </s> B </s>`; every type 0.
    case roberta(cls: Int32, sep: Int32)
    /// No post-processor (or only ones that change offsets): the sequences alone, types 0 and 1.
    case none

    enum TemplatePart: Sendable {
        case special(ids: [Int32], type: Int32)
        case sequence(second: Bool, type: Int32)
    }

    func template(pair: Bool) -> [TemplatePart] {
        switch self {
        case .bert(let cls, let sep):
            return pair ? [.special(ids: [cls], type: 0), .sequence(second: false, type: 0), .special(ids: [sep], type: 0),
                           .sequence(second: true, type: 1), .special(ids: [sep], type: 1)]
                : [.special(ids: [cls], type: 0), .sequence(second: false, type: 0), .special(ids: [sep], type: 0)]
        case .roberta(let cls, let sep):
            return pair ? [.special(ids: [cls], type: 0), .sequence(second: false, type: 0), .special(ids: [sep, sep], type: 0),
                           .sequence(second: true, type: 0), .special(ids: [sep], type: 0)]
                : [.special(ids: [cls], type: 0), .sequence(second: false, type: 0), .special(ids: [sep], type: 0)]
        case .template(let single, let pairParts):
            return pair ? pairParts : single
        case .none:
            return pair ? [.sequence(second: false, type: 0), .sequence(second: true, type: 1)]
                : [.sequence(second: false, type: 0)]
        }
    }

    /// How many specials the template adds (Rust `added_tokens`).
    func addedCount(pair: Bool) -> Int {
        template(pair: pair).reduce(0) { count, part in
            if case .special(let ids, _) = part { return count + ids.count }
            return count
        }
    }

    /// The first and last special ids of the single-sequence template.
    var clsAndSep: (Int32, Int32)? {
        let ids = template(pair: false).flatMap { part -> [Int32] in
            if case .special(let ids, _) = part { return ids }
            return []
        }
        guard let first = ids.first, let last = ids.last else { return nil }
        return (first, last)
    }
}

/// The model of the pipeline.
enum SubwordModel: Sendable {
    case wordPiece(WordPiece)
    case bpe(BytePairModel)
    case unigram(UnigramModel)
}

/// The components of a tokenizer, and the walk from text to pieces.
struct Pipeline: Sendable {
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let model: SubwordModel
    let postProcessor: PostProcessor
    let addedTokens: [AddedToken]
    /// Set when the pipeline is BERT's (BertNormalizer with clean_text, BertPreTokenizer,
    /// WordPiece, added tokens matched raw and whole): the fused fast path runs it.
    private let fastBERT: (options: TokenizerOptions, wordPiece: WordPiece, specials: SpecialTokenMatcher)?
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher

    init(normalizer: Normalizer?, preTokenizer: PreTokenizer?, model: SubwordModel, postProcessor: PostProcessor,
         addedTokens: [AddedToken], vocabulary: Vocabulary) {
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.addedTokens = addedTokens
        if case .bert(true, let chinese, let strip, let lower)? = normalizer, case .bert? = preTokenizer,
           case .wordPiece(let wordPiece) = model,
           addedTokens.allSatisfy({ !$0.normalized && !$0.lstrip && !$0.rstrip && !$0.singleWord }) {
            fastBERT = (TokenizerOptions(doLowerCase: lower, stripAccents: strip, tokenizeChineseChars: chinese), wordPiece,
                        SpecialTokenMatcher(addedTokens.map { ($0.content, $0.id) }))
        } else {
            fastBERT = nil
        }
        rawMatcher = AddedTokenMatcher(addedTokens.filter { !$0.normalized }.map { (Array($0.content.unicodeScalars), $0) })
        normalizedMatcher = AddedTokenMatcher(addedTokens.filter(\.normalized).map { token in
            let content = Array(token.content.unicodeScalars)
            return (normalizer?.normalize(content) ?? content, token)
        })
    }

    /// The word-boundary marks the pre-tokenizer leaves in tokens.
    enum TokenMarks { case none, byteLevel, metaspace(Unicode.Scalar) }

    var tokenMarks: TokenMarks {
        func marks(_ preTokenizer: PreTokenizer?) -> TokenMarks {
            switch preTokenizer {
            case .byteLevel?: return .byteLevel
            case .metaspace(let replacement, _, _)?: return .metaspace(replacement)
            case .sequence(let steps)?:
                for step in steps {
                    if case .none = marks(step) { continue }
                    return marks(step)
                }
                return .none
            default: return .none
            }
        }
        return marks(preTokenizer)
    }

    var unknownId: Int32? {
        switch model {
        case .wordPiece(let wordPiece): return wordPiece.unknownId
        case .bpe(let bpe): return bpe.unknownId
        case .unigram(let unigram): return unigram.unknownId
        }
    }

    /// The pieces of `text`: ids, each with the index of its pre-token (or `wordIndex`).
    func pieces(of text: String, wordIndex: Int?) -> PieceSequence {
        if let fastBERT { return fastPieces(of: text, wordIndex: wordIndex, fastBERT) }
        var result = PieceSequence()
        let scalars = Array(text.unicodeScalars)
        var word = 0
        /// A non-empty split is a word even when the model gives it no id (the reference counts it).
        func emit(_ ids: ArraySlice<Int32>) {
            let wordId = Int32(wordIndex ?? word)
            result.ids.append(contentsOf: ids)
            for _ in ids { result.wordIds.append(wordId) }
            word += 1
        }
        var ids: [Int32] = []
        for stretch in rawMatcher.split(scalars) where !stretch.range.isEmpty {
            if let id = stretch.id {
                emit([id])
                continue
            }
            let raw = Array(scalars[stretch.range])
            let normalized = normalizer?.normalize(raw) ?? raw
            let atOrigin = stretch.range.lowerBound == 0
            for part in normalizedMatcher.split(normalized) where !part.range.isEmpty {
                if let id = part.id {
                    emit([id])
                    continue
                }
                let piece = TextPiece(scalars: Array(normalized[part.range]), atOrigin: atOrigin && part.range.lowerBound == 0)
                let words = preTokenizer?.preTokenize([piece]) ?? [piece]
                for word in words where !word.scalars.isEmpty {
                    ids.removeAll(keepingCapacity: true)
                    switch model {
                    case .wordPiece(let wordPiece):
                        var utf8 = Array(String(String.UnicodeScalarView(word.scalars)).utf8)
                        utf8.withUnsafeMutableBufferPointer { buffer in
                            _ = wordPiece.appendPieces(of: buffer.baseAddress!, length: buffer.count, to: &ids)
                        }
                    case .bpe(let bpe):
                        _ = bpe.appendPieces(of: word.scalars, to: &ids)
                    case .unigram(let unigram):
                        _ = unigram.appendPieces(of: word.scalars, to: &ids)
                    }
                    emit(ids[...])
                }
            }
        }
        return result
    }

    /// BERT's pipeline fused: special tokens matched in the raw UTF-8, then `WordSplitter`
    /// (normalizer and pre-tokenizer in one pass) and `WordPiece` on each word.
    private func fastPieces(of text: String, wordIndex: Int?,
                            _ fast: (options: TokenizerOptions, wordPiece: WordPiece, specials: SpecialTokenMatcher))
        -> PieceSequence {
        var splitter = WordSplitter(options: fast.options, capacity: text.utf8.count)
        var pieces = PieceSequence()
        var text = text
        text.withUTF8 { raw in
            var segmentStart = 0
            var position = 0
            while position < raw.count {
                guard let special = fast.specials.match(raw, at: position) else {
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
                    added = fast.wordPiece.appendPieces(of: bytes.baseAddress! + Int(word.start),
                                                        length: Int(word.end - word.start), to: &pieces.ids)
                }
                for _ in 0..<added { pieces.wordIds.append(wordId) }
            }
        }
        return pieces
    }
}

/// Finds the special tokens in raw UTF-8, leftmost and longest first (as the reference's
/// Aho-Corasick matcher over its added tokens, which are not normalized).
struct SpecialTokenMatcher: Sendable {
    private let tokens: [(bytes: [UInt8], id: Int32)]
    /// Whether some special token starts with the byte: most positions are rejected by one load.
    private let startsWith: [Bool]

    init(_ specials: [(String, Int32)]) {
        var tokens: [(bytes: [UInt8], id: Int32)] = []
        var startsWith = [Bool](repeating: false, count: 256)
        for (token, id) in specials where !token.isEmpty {
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
