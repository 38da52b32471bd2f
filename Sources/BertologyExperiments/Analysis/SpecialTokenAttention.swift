import BertologyEngine
import Foundation

/// Attention to [CLS], [SEP] and punctuation per head (Kovaleva et al. §4.4-4.5, Fig 6-7; Clark et
/// al. 2019), averaged over examples. Every map is cropped to the example's L real tokens.
///
/// With s_j = (1/L) sum_i A[i, j] (the column mean over the L real query rows):
/// - the paper's score of a token class is max_{j in class} s_j ([CLS]: s_0);
/// - Clark et al.'s is sum_{j in class} s_j (the share of all attention the class receives);
/// - the [CLS] row score (Fig 7) is max_{j in class} A[0, j], for every layer (the paper plots the last).
/// An example without punctuation is skipped by the paper's punctuation score (the paper's text:
/// such sentences are "disregarded"); `punctuationPaperAbsentAsZero` scores it 0 instead (the
/// released notebook's treatment of absent features). Clark's sum is 0 for it, as a sum over
/// nothing is. [CLS] is position 0; [SEP] is every position holding the [SEP] id.
public final class SpecialTokenAttention: AttentionAnalyzer, ContextFolding {
    /// Layers of the model observed; the result grids have this many rows.
    public let layerCount: Int
    /// Attention heads per layer; the result grids have this many columns.
    public let headCount: Int
    let classes: TokenClasses
    private let standalone = StandaloneContext()

    // Running sums over examples, (layers, heads).
    private var cls: [Double], sepMax: [Double], sepSum: [Double], punctuationMax: [Double], punctuationSum: [Double]
    private var clsRowCLS: [Double], clsRowSEP: [Double], clsRowPunctuation: [Double]
    private var examples = 0
    private var examplesWithPunctuation = 0

    /// Creates an analyzer with empty sums for a model of `layerCount` x `headCount` heads.
    /// - Parameters:
    ///   - layerCount: the model's layers.
    ///   - headCount: the model's heads per layer.
    ///   - tokenClasses: which token ids are `[CLS]`, `[SEP]`, padding and punctuation.
    public init(layerCount: Int, headCount: Int, tokenClasses: TokenClasses) {
        self.layerCount = layerCount
        self.headCount = headCount
        self.classes = tokenClasses
        let zeros = [Double](repeating: 0, count: layerCount * headCount)
        (cls, sepMax, sepSum, punctuationMax, punctuationSum) = (zeros, zeros, zeros, zeros, zeros)
        (clsRowCLS, clsRowSEP, clsRowPunctuation) = (zeros, zeros, zeros)
    }

    public func beginBatch(rows: [Int], batch: Batch) { standalone.beginBatch(rows: rows) }

    /// Folds one layer's maps into the running sums (used when the analyzer runs alone, not in an ``AnalyzerGroup``).
    public func observe(_ attention: LayerAttention) {
        fold(attention, standalone.context(for: attention, classes: classes))
    }

    func fold(_ attention: LayerAttention, _ context: LayerContext) {
        let roles = context.roles, statistics = context.statistics
        let t = attention.sequenceLength
        let layer = attention.layer
        precondition(layer < layerCount && attention.headCount == headCount, "layer \(layer) of \(attention.headCount) heads outside \(layerCount)x\(headCount)")
        if layer == 0 {
            examples += roles.size
            examplesWithPunctuation += roles.punctuation.reduce(0) { $0 + ($1.isEmpty ? 0 : 1) }
        }
        for b in 0..<roles.size {
            let length = Double(roles.lengths[b])
            let separators = roles.separators[b], marks = roles.punctuation[b]
            for h in 0..<headCount {
                let cell = layer * headCount + h
                cls[cell] += statistics.columnTotal(example: b, head: h, column: 0) / length
                var maximum = 0.0, total = 0.0
                for j in separators {
                    let s = statistics.columnTotal(example: b, head: h, column: j) / length
                    maximum = max(maximum, s)
                    total += s
                }
                sepMax[cell] += maximum
                sepSum[cell] += total
                (maximum, total) = (0, 0)
                for j in marks {
                    let s = statistics.columnTotal(example: b, head: h, column: j) / length
                    maximum = max(maximum, s)
                    total += s
                }
                punctuationMax[cell] += maximum
                punctuationSum[cell] += total
                // The [CLS] query row (row 0) of this map.
                let row = attention.probabilities.baseAddress! + ((b * headCount + h) * t) * t
                clsRowCLS[cell] += Double(row[0])
                clsRowSEP[cell] += Double(separators.reduce(Float(0)) { max($0, row[$1]) })
                clsRowPunctuation[cell] += Double(marks.reduce(Float(0)) { max($0, row[$1]) })
            }
        }
    }

    /// The per-head means over every example observed so far (grids of zeros before any).
    public func result() -> SpecialTokenResult {
        func grid(_ sums: [Double], over count: Int) -> HeadGrid {
            HeadGrid(layerCount: layerCount, headCount: headCount, values: sums.map { count > 0 ? $0 / Double(count) : 0 })
        }
        let n = examples, marked = examplesWithPunctuation
        return SpecialTokenResult(
            examples: n, examplesWithPunctuation: marked,
            cls: grid(cls, over: n), sepPaper: grid(sepMax, over: n), sepClark: grid(sepSum, over: n),
            punctuationPaper: grid(punctuationMax, over: marked), punctuationPaperAbsentAsZero: grid(punctuationMax, over: n),
            punctuationClark: grid(punctuationSum, over: n),
            clsRowCLS: grid(clsRowCLS, over: n), clsRowSEP: grid(clsRowSEP, over: n),
            clsRowPunctuation: grid(clsRowPunctuation, over: marked))
    }
}

/// Mean attention to special tokens per head. See `SpecialTokenAttention` and docs/ANALYSES.md.
public struct SpecialTokenResult: Sendable, Encodable {
    /// Examples the scores average over (the punctuation-only "paper" scores use ``examplesWithPunctuation``).
    public let examples: Int
    /// Examples with at least one punctuation token (the paper's punctuation scores average over these).
    public let examplesWithPunctuation: Int
    /// s_0, the column mean of [CLS] (the paper's and Clark et al.'s definitions agree on one column).
    public let cls: HeadGrid
    /// max over [SEP] positions of s_j (the paper).
    public let sepPaper: HeadGrid
    /// sum over [SEP] positions of s_j (Clark et al.).
    public let sepClark: HeadGrid
    /// max over punctuation positions of s_j, over examples with punctuation.
    public let punctuationPaper: HeadGrid
    /// The same, with examples without punctuation scored 0 (the released notebook's treatment).
    public let punctuationPaperAbsentAsZero: HeadGrid
    /// sum over punctuation positions of s_j, over all examples (Clark et al.).
    public let punctuationClark: HeadGrid
    /// A[0, 0]: the [CLS] row's weight on [CLS], every layer (Fig 7 is the last layer).
    public let clsRowCLS: HeadGrid
    /// max over [SEP] positions of A[0, j].
    public let clsRowSEP: HeadGrid
    /// max over punctuation positions of A[0, j], over examples with punctuation.
    public let clsRowPunctuation: HeadGrid

    /// Every grid with its file name, title and definition, in report order.
    public var grids: [GridResult] {
        [
            GridResult(name: "cls", title: "Attention to [CLS]",
                       definition: "s_0 = (1/L) sum_i A[i,0]: column mean of [CLS] over the L real query rows, averaged over examples (paper and Clark et al. agree)",
                       grid: cls, examples: examples),
            GridResult(name: "sep-paper", title: "Attention to [SEP] (paper: max over [SEP] tokens)",
                       definition: "max over [SEP] positions j of s_j, averaged over examples", grid: sepPaper, examples: examples),
            GridResult(name: "sep-clark", title: "Attention to [SEP] (Clark et al.: sum over [SEP] tokens)",
                       definition: "sum over [SEP] positions j of s_j, averaged over examples", grid: sepClark, examples: examples),
            GridResult(name: "punctuation-paper", title: "Attention to punctuation (paper: max, examples with punctuation)",
                       definition: "max over punctuation positions j of s_j, averaged over the examples that have punctuation",
                       grid: punctuationPaper, examples: examplesWithPunctuation),
            GridResult(name: "punctuation-paper-absent-as-zero", title: "Attention to punctuation (paper: max, absent scored 0)",
                       definition: "max over punctuation positions j of s_j, 0 for examples without punctuation, averaged over all examples",
                       grid: punctuationPaperAbsentAsZero, examples: examples),
            GridResult(name: "punctuation-clark", title: "Attention to punctuation (Clark et al.: sum)",
                       definition: "sum over punctuation positions j of s_j (0 without punctuation), averaged over all examples",
                       grid: punctuationClark, examples: examples),
            GridResult(name: "cls-row-cls", title: "[CLS] row: weight on [CLS] (Fig 7: last layer)",
                       definition: "A[0,0], averaged over examples", grid: clsRowCLS, examples: examples),
            GridResult(name: "cls-row-sep", title: "[CLS] row: weight on [SEP] (Fig 7: last layer)",
                       definition: "max over [SEP] positions j of A[0,j], averaged over examples", grid: clsRowSEP, examples: examples),
            GridResult(name: "cls-row-punctuation", title: "[CLS] row: weight on punctuation (Fig 7: last layer)",
                       definition: "max over punctuation positions j of A[0,j], averaged over the examples that have punctuation",
                       grid: clsRowPunctuation, examples: examplesWithPunctuation),
        ]
    }

    enum CodingKeys: String, CodingKey {
        case examples, examplesWithPunctuation = "examples_with_punctuation", cls, sepPaper = "sep_paper", sepClark = "sep_clark"
        case punctuationPaper = "punctuation_paper", punctuationPaperAbsentAsZero = "punctuation_paper_absent_as_zero"
        case punctuationClark = "punctuation_clark", clsRowCLS = "cls_row_cls", clsRowSEP = "cls_row_sep"
        case clsRowPunctuation = "cls_row_punctuation"
    }

    /// The paper's Fig 7: the last layer's [CLS] row scores, one value per head.
    public var lastLayerCLSRow: (cls: [Double], sep: [Double], punctuation: [Double]) {
        let last = clsRowCLS.layerCount - 1
        return (clsRowCLS.rows[last], clsRowSEP.rows[last], clsRowPunctuation.rows[last])
    }
}

/// One named per-head grid of an analysis, with what it means (for JSON, CSV, NPY and the report).
public struct GridResult: Sendable, Encodable {
    /// File-name part: `special-tokens-<name>.csv`.
    public let name: String
    /// The heading shown above the grid's heatmap, for example "Attention to [CLS]".
    public let title: String
    /// What each cell holds, as a formula in words (A[i,j] is the probability query i gives key j).
    public let definition: String
    /// The values, one per (layer, head).
    public let grid: HeadGrid
    /// Examples (or sentences) the grid averages over.
    public let examples: Int
    /// Fixed colour range for the heatmap (nil: the grid's min and max).
    public var range: ClosedRange<Double>?

    /// Creates a named grid.
    /// - Parameters:
    ///   - name: the file-name part, for example `cls` for `special-tokens-cls.csv`.
    ///   - title: the heatmap's heading.
    ///   - definition: what each cell holds.
    ///   - grid: the values.
    ///   - examples: examples (or sentences) the values average over.
    ///   - range: a fixed colour range for the heatmap; nil to use the grid's minimum and maximum.
    public init(name: String, title: String, definition: String, grid: HeadGrid, examples: Int,
                range: ClosedRange<Double>? = nil) {
        self.name = name
        self.title = title
        self.definition = definition
        self.grid = grid
        self.examples = examples
        self.range = range
    }

    enum CodingKeys: String, CodingKey { case name, title, definition, grid, examples }
}
