import BertologyEngine
import Foundation

/// Sentences with word-index pairs for the relation probe, read from a JSON Lines file: one object
/// per line,
///
///     {"words": ["He", "was", "becoming", "agitated"], "pairs": [[0, 3]]}
///
/// `words` is the sentence split into words (each is tokenized on its own, as with Hugging Face
/// `is_split_into_words=True`); `pairs` lists `[from, to]` 0-based word indices: the attention of
/// `from` (query) to `to` (key). Other keys (`id`, `frame`, ...) are ignored. Blank lines are skipped.
public struct RelationProbeSet: Sendable {
    /// The file the sentences came from, as named in errors and the report.
    public let file: String
    /// The sentences in file order (blank lines skipped).
    public let sentences: [RelationSentence]

    /// Creates a set from sentences built in code rather than read from a file.
    /// - Parameters:
    ///   - file: a name for the source, used in errors and the report.
    ///   - sentences: the sentences to probe.
    public init(file: String, sentences: [RelationSentence]) {
        self.file = file
        self.sentences = sentences
    }

    /// Reads and parses a JSON Lines file of sentences and word pairs.
    /// - Parameter url: the file.
    /// - Throws: `BertologyError` `.io` when the file cannot be read, `.badInput` (naming the line) when a line is malformed or a pair's index is outside its sentence.
    public static func load(_ url: URL) throws -> RelationProbeSet {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw BertologyError.io(url.path, "cannot read: \(error.localizedDescription)")
        }
        return try parse(data, file: url.path)
    }

    /// Parses JSON Lines; errors name the file and the line.
    public static func parse(_ data: Data, file: String) throws -> RelationProbeSet {
        var sentences: [RelationSentence] = []
        for (index, line) in try TextLines.split(data, file: file).enumerated() {
            let number = index + 1
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            func bad(_ reason: String) -> BertologyError { BertologyError.badInput(file, at: "line \(number)", reason) }
            let value: JSONValue
            do { value = try JSONValue.parse(Data(line.utf8), file: file) } catch let error as BertologyError {
                throw bad(error.reason)
            }
            guard let object = value.object else { throw bad("expected a JSON object {\"words\": [...], \"pairs\": [[from, to], ...]}") }
            guard let wordValues = object["words"] else { throw bad("missing \"words\" (the sentence as a list of words)") }
            guard let wordList = wordValues.array, !wordList.isEmpty else { throw bad("\"words\" must be a non-empty list of strings") }
            var words: [String] = []
            for (position, word) in wordList.enumerated() {
                guard let text = word.string else { throw bad("word \(position) is not a string") }
                guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw bad("word \(position) is empty") }
                words.append(text)
            }
            guard let pairValues = object["pairs"] else { throw bad("missing \"pairs\" (a list of [from, to] word indices)") }
            guard let pairList = pairValues.array, !pairList.isEmpty else { throw bad("\"pairs\" must be a non-empty list of [from, to] word indices") }
            var pairs: [RelationSentence.Pair] = []
            for (position, pair) in pairList.enumerated() {
                guard let ends = pair.array, ends.count == 2, let from = ends[0].integer, let to = ends[1].integer else {
                    throw bad("pair \(position) is not [from, to] with two integer word indices")
                }
                for end in [from, to] where end < 0 || end >= words.count {
                    throw bad("pair \(position) = [\(from), \(to)]: word index \(end) is outside 0..\(words.count - 1) (the sentence has \(words.count) words)")
                }
                pairs.append(RelationSentence.Pair(from: from, to: to))
            }
            sentences.append(RelationSentence(line: number, words: words, pairs: pairs))
        }
        guard !sentences.isEmpty else { throw BertologyError.badInput(file, "no sentences (expected one JSON object per line)") }
        return RelationProbeSet(file: file, sentences: sentences)
    }
}

/// One sentence of a relation file: its words and the word pairs whose attention is probed.
public struct RelationSentence: Sendable, Equatable {
    /// A related pair of words: the probe reads the attention of `from` (query) to `to` (key).
    public struct Pair: Sendable, Equatable, Hashable {
        /// Query word (0-based).
        public let from: Int
        /// Key word (0-based).
        public let to: Int

        /// Creates a pair of 0-based word indices.
        /// - Parameters:
        ///   - from: the query word.
        ///   - to: the key word.
        public init(from: Int, to: Int) {
            self.from = from
            self.to = to
        }
    }

    /// 1-based line in the file.
    public let line: Int
    /// The sentence as words; each is tokenized on its own.
    public let words: [String]
    /// The pairs probed (at least one), as 0-based indices into ``words``.
    public let pairs: [Pair]

    /// Creates a sentence; indices are not checked here (``RelationProbeSet/parse(_:file:)`` checks them).
    /// - Parameters:
    ///   - line: the 1-based line it came from, for messages.
    ///   - words: the sentence as words.
    ///   - pairs: 0-based word-index pairs within `words`.
    public init(line: Int, words: [String], pairs: [Pair]) {
        self.line = line
        self.words = words
        self.pairs = pairs
    }
}

/// A relation sentence tokenized: its encoding and the piece positions of each pair's words.
public struct EncodedRelationSentence: Sendable {
    /// The sentence as read.
    public let sentence: RelationSentence
    /// The sentence's tokens, `[CLS] pieces… [SEP]`, with the word of each piece.
    public let encoding: Encoding
    /// Per pair: the positions of the `from` word's pieces and of the `to` word's pieces.
    public let positions: [(from: [Int], to: [Int])]

    /// Tokenizes `sentence`; an error (naming the file and line) when a word of a pair has no word
    /// pieces (it normalizes to nothing, or truncation to `maxLength` cut it off).
    /// - Parameters:
    ///   - sentence: the sentence and its pairs.
    ///   - tokenizer: the tokenizer of the model probed.
    ///   - maxLength: truncation length in tokens, specials included.
    ///   - file: the relation file, for error messages.
    /// - Throws: `BertologyError` `.badInput` when a word of a pair has no word pieces.
    public init(_ sentence: RelationSentence, tokenizer: Tokenizer, maxLength: Int, file: String) throws {
        let encoding = tokenizer.encode(words: sentence.words, maxLength: maxLength)
        var pieces: [Int: [Int]] = [:]
        for (position, word) in encoding.wordIds.enumerated() {
            if let word { pieces[word, default: []].append(position) }
        }
        self.positions = try sentence.pairs.map { pair in
            for word in [pair.from, pair.to] where pieces[word] == nil {
                let why = encoding.truncated ? "truncation to \(maxLength) tokens cut it off" : "it has no word pieces"
                throw BertologyError.badInput(file, at: "line \(sentence.line)", "word \(word) (\"\(sentence.words[word])\") cannot be probed: \(why)")
            }
            return (pieces[pair.from]!, pieces[pair.to]!)
        }
        self.sentence = sentence
        self.encoding = encoding
    }
}

/// The relation probe (Kovaleva et al. §4.2, Fig 3, the FrameNet measure): per head, for each
/// sentence the largest attention from a `from` word to its `to` word,
/// max over pairs, over p in pieces(from), q in pieces(to) of A[p, q] (row p = query, column q = key),
/// averaged over sentences. Pieces are found by position (not by string, as the released notebook did).
public final class RelationProbe: AttentionAnalyzer {
    /// Layers of the model observed; the result grid has this many rows.
    public let layerCount: Int
    /// Attention heads per layer; the result grid has this many columns.
    public let headCount: Int
    /// The sentences probed, indexed by the rows given to ``beginBatch(rows:batch:)`` (or in order seen).
    public let sentences: [EncodedRelationSentence]
    private var sums: [Double]
    private var rows: [Int] = []
    private var nextRow = 0
    private var announced = false
    private var count = 0

    /// Creates a probe with empty sums; batches must hold these sentences' encodings.
    /// - Parameters:
    ///   - layerCount: the model's layers.
    ///   - headCount: the model's heads per layer.
    ///   - sentences: the encoded sentences; batch row `b` of a batch announced with `rows` is `sentences[rows[b]]`.
    public init(layerCount: Int, headCount: Int, sentences: [EncodedRelationSentence]) {
        self.layerCount = layerCount
        self.headCount = headCount
        self.sentences = sentences
        sums = [Double](repeating: 0, count: layerCount * headCount)
    }

    public func beginBatch(rows: [Int], batch: Batch) {
        self.rows = rows
        announced = true
    }

    /// Folds one layer's maps into the running sums: per sentence and head, the largest attention from a `from` piece to a `to` piece.
    public func observe(_ attention: LayerAttention) {
        let t = attention.sequenceLength, layer = attention.layer
        if layer == 0 {
            if !announced {
                rows = Array(nextRow..<(nextRow + attention.batch.size))
                nextRow += attention.batch.size
            }
            announced = false
            count += attention.batch.size
        }
        let base = attention.probabilities.baseAddress!
        for b in 0..<attention.batch.size {
            let sentence = sentences[rows[b]]
            precondition(sentence.encoding.count == Int(attention.batch.lengths[b]), "batch row \(b) is not sentence \(rows[b])")
            for h in 0..<headCount {
                let map = base + (b * headCount + h) * t * t
                var best: Float = 0
                for (from, to) in sentence.positions {
                    for p in from { for q in to { best = max(best, map[p * t + q]) } }
                }
                sums[layer * headCount + h] += Double(best)
            }
        }
    }

    /// The mean score per head over every sentence observed so far.
    /// - Parameter file: the relation file, recorded in the result.
    public func result(file: String) -> RelationProbeResult {
        let n = Double(max(count, 1))
        return RelationProbeResult(file: file, sentences: count, pairs: sentences.reduce(0) { $0 + $1.positions.count },
                                   score: HeadGrid(layerCount: layerCount, headCount: headCount, values: sums.map { $0 / n }))
    }
}

/// The result of ``RelationProbe``: per head, how strongly a word attends to its related word.
public struct RelationProbeResult: Sendable, Encodable {
    /// The relation file probed.
    public let file: String
    /// Sentences the scores average over.
    public let sentences: Int
    /// Word pairs in those sentences (each sentence scores its best pair).
    public let pairs: Int
    /// Mean over sentences of the largest from-piece-to-to-piece probability, 0-1, per head.
    public let score: HeadGrid

    /// The score grid with its title and definition, as the report, CSV and NPY files write it.
    public var grids: [GridResult] {
        [GridResult(name: "score", title: "Relation probe: attention from word to related word",
                    definition: "per sentence, max over its pairs and their word pieces p (from) and q (to) of A[p,q]; averaged over sentences",
                    grid: score, examples: sentences)]
    }
}
