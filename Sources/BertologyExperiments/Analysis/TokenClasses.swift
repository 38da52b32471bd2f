import BertologyEngine
import Foundation

/// Which vocabulary entries the analyses treat as [CLS], [SEP] and punctuation.
///
/// Punctuation is a token made only of Unicode punctuation characters (general categories Pc, Pd,
/// Ps, Pe, Pi, Pf, Po): `.` `,` `!` `?` `'` `"` `-` `(` `)` `;` `:` `...` `#` `%` `&` `*` `@`, but not
/// the symbols `$` `+` `<` `=` `>` `^` `|` `~` and the backtick (categories S*), which BERT's basic
/// tokenizer also splits off. Clark et al. (2019) count only "." and ","; see docs/ANALYSES.md.
public struct TokenClasses: Sendable {
    /// The vocabulary id of `[CLS]`; the analyses take position 0 as `[CLS]` whatever its id.
    public let clsId: Int32
    /// The vocabulary id of `[SEP]`; every position holding it counts as a separator.
    public let sepId: Int32
    /// By token id.
    let punctuation: [Bool]

    /// Classifies every entry of the tokenizer's vocabulary once (a table of `vocabulary.count` flags),
    /// by the text it stands for (`Tokenizer.surfaceText(of:)`).
    /// - Parameter tokenizer: the tokenizer of the model analysed.
    public init(tokenizer: Tokenizer) {
        let vocabulary = tokenizer.vocabulary
        self.clsId = tokenizer.clsId
        self.sepId = tokenizer.sepId
        // The surface text: byte-level "Ġ," and Metaspace "▁," are "," (WordPiece entries as they are).
        self.punctuation = (0..<vocabulary.count).map { TokenClasses.isPunctuation(tokenizer.surfaceText(of: Int32($0)) ?? "") }
    }

    /// Whether `token` is non-empty and made only of Unicode punctuation (P*) characters.
    public static func isPunctuation(_ token: String) -> Bool {
        !token.isEmpty && token.unicodeScalars.allSatisfy { scalar in
            switch scalar.properties.generalCategory {
            case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
                 .initialPunctuation, .finalPunctuation, .otherPunctuation: true
            default: false
            }
        }
    }

    /// Whether the vocabulary entry `id` is punctuation; false for ids outside the vocabulary.
    public func isPunctuation(id: Int32) -> Bool {
        id >= 0 && Int(id) < punctuation.count && punctuation[Int(id)]
    }
}

/// The role of every real token of every example of a batch: computed once per batch, shared by
/// the analyzers.
struct BatchTokenRoles {
    let size: Int
    let sequenceLength: Int
    /// (B) real tokens L.
    let lengths: [Int32]
    /// (B) first token of the second segment (token type 1); L for a single sentence.
    let segmentStarts: [Int32]
    /// Positions of [SEP] tokens (by id), per example.
    let separators: [[Int]]
    /// Positions of punctuation tokens, per example.
    let punctuation: [[Int]]
    /// (B,T): [CLS] (position 0) or [SEP]: the "special" columns of the pattern features.
    let special: [Bool]

    init(batch: Batch, classes: TokenClasses) {
        let t = batch.sequenceLength
        size = batch.size
        sequenceLength = t
        lengths = batch.lengths
        var starts: [Int32] = [], separators: [[Int]] = [], punctuation: [[Int]] = []
        var special = [Bool](repeating: false, count: batch.size * t)
        for b in 0..<batch.size {
            let length = Int(batch.lengths[b])
            let base = b * t
            var start = length
            var seps: [Int] = [], marks: [Int] = []
            for position in 0..<length {
                let id = batch.inputIds[base + position]
                if start == length && batch.tokenTypeIds[base + position] != 0 { start = position }
                if id == classes.sepId {
                    seps.append(position)
                    special[base + position] = true
                } else if classes.isPunctuation(id: id) {
                    marks.append(position)
                }
            }
            special[base] = true  // [CLS] is position 0 (the paper's j = 0).
            starts.append(Int32(start))
            separators.append(seps)
            punctuation.append(marks)
        }
        segmentStarts = starts
        self.separators = separators
        self.punctuation = punctuation
        self.special = special
    }

    func isPair(_ b: Int) -> Bool { segmentStarts[b] < lengths[b] }
}
