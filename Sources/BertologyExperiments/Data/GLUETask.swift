import BertologyEngine
import Foundation

/// The nine GLUE tasks, with the files `download_glue_data.py` writes (the `glue_data/` layout),
/// their columns, label sets and official metrics.
///
/// Label lists are in the order of the original BERT / Hugging Face GLUE processors
/// (`run_classifier.py`, `transformers.data.processors.glue`), which is the order a classifier
/// trained with them outputs: MNLI `contradiction, entailment, neutral`; QNLI and RTE
/// `entailment, not_entailment`; the binary tasks `0, 1`. STS-B is a regression (a score 0-5).
public enum GLUETask: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// Corpus of Linguistic Acceptability: single sentences, acceptable or not; scored by Matthews correlation.
    case cola = "CoLA"
    /// Stanford Sentiment Treebank: single sentences, negative or positive; scored by accuracy.
    case sst2 = "SST-2"
    /// Microsoft Research Paraphrase Corpus: sentence pairs, paraphrase or not; scored by F1 and accuracy.
    case mrpc = "MRPC"
    /// Quora Question Pairs: question pairs, duplicate or not; scored by F1 and accuracy.
    case qqp = "QQP"
    /// Semantic Textual Similarity Benchmark: sentence pairs with a similarity score 0-5; scored by Pearson and Spearman.
    case stsb = "STS-B"
    /// Multi-Genre NLI: premise and hypothesis, contradiction, entailment or neutral; scored by accuracy (matched and mismatched splits).
    case mnli = "MNLI"
    /// Question NLI: question and sentence, whether the sentence answers it; scored by accuracy.
    case qnli = "QNLI"
    /// Recognizing Textual Entailment: sentence pairs, entailment or not; scored by accuracy.
    case rte = "RTE"
    /// Winograd NLI: sentence pairs, entailment or not; scored by accuracy.
    case wnli = "WNLI"

    /// The task's name as GLUE writes it, which is also its folder in `glue_data/`.
    public var name: String { rawValue }
    /// The task's folder in `glue_data/`, for example `SST-2`.
    public var folderName: String { rawValue }
    /// The task's GLUE name, for example `SST-2`.
    public var description: String { rawValue }

    /// Accepts the GLUE name in any case, with or without the hyphen or an underscore:
    /// `sst-2`, `SST2`, `sts_b`, `stsb`, `CoLA`, `mnli`.
    public init(parsing text: String) throws {
        func key(_ name: String) -> String { name.lowercased().filter { $0 != "-" && $0 != "_" } }
        guard let task = Self.allCases.first(where: { key($0.rawValue) == key(text) }) else {
            throw BertologyError.usage("unknown GLUE task \"\(text)\" (one of: \(Self.allCases.map(\.name).joined(separator: ", ")))")
        }
        self = task
    }

    // MARK: - Labels

    /// Class names in the order of the model outputs a GLUE-trained classifier has; nil for STS-B.
    public var labels: [String]? {
        switch self {
        case .mnli: ["contradiction", "entailment", "neutral"]
        case .qnli, .rte: ["entailment", "not_entailment"]
        case .cola, .sst2, .mrpc, .qqp, .wnli: ["0", "1"]
        case .stsb: nil
        }
    }

    /// Other names a checkpoint's `id2label` may give each label (Hugging Face `datasets` names the
    /// binary labels), in the order of `labels`. Compared after lower-casing and mapping ' ' and
    /// '-' to '_'.
    public var labelSynonyms: [[String]] {
        switch self {
        case .cola: [["unacceptable"], ["acceptable"]]
        case .sst2: [["negative"], ["positive"]]
        case .mrpc: [["not_equivalent"], ["equivalent"]]
        case .qqp: [["not_duplicate"], ["duplicate"]]
        case .wnli: [["not_entailment"], ["entailment"]]
        case .mnli: [["contradiction"], ["entailment"], ["neutral"]]
        case .qnli, .rte: [["entailment"], ["not_entailment"]]
        case .stsb: []
        }
    }

    /// STS-B: the label is a similarity score from 0 to 5.
    public var isRegression: Bool { self == .stsb }

    /// Whether an example has two texts (`[CLS] A [SEP] B [SEP]`).
    public var isPair: Bool { self != .cola && self != .sst2 }

    /// The class GLUE's F1 is computed for (MRPC: paraphrase, QQP: duplicate).
    public var positiveLabel: Int? { self == .mrpc || self == .qqp ? 1 : nil }

    // MARK: - Metrics

    /// The metrics GLUE reports for the task.
    public var metrics: [GLUEMetric] {
        switch self {
        case .cola: [.mcc]
        case .mrpc, .qqp: [.f1, .accuracy]
        case .stsb: [.pearson, .spearman, .corr]
        case .sst2, .mnli, .qnli, .rte, .wnli: [.accuracy]
        }
    }

    /// The one number a table or an ablation heatmap shows: Matthews for CoLA, F1 for MRPC and QQP,
    /// Pearson for STS-B (the first metric GLUE lists), accuracy otherwise.
    public var headlineMetric: GLUEMetric { metrics[0] }

    // MARK: - Files

    /// The splits the task has. MNLI has matched (`dev`, `test`) and mismatched sections.
    public var splits: [GLUESplit] {
        self == .mnli ? [.train, .dev, .devMismatched, .test, .testMismatched] : [.train, .dev, .test]
    }

    /// The file name of a split in the task's folder: `dev.tsv`; MNLI `dev_matched.tsv`.
    public func fileName(for split: GLUESplit) -> String {
        switch (self, split) {
        case (.mnli, .dev): "dev_matched.tsv"
        case (.mnli, .test): "test_matched.tsv"
        default: "\(split.rawValue).tsv"
        }
    }

    /// Where each field of an example is in the task's files.
    func layout(for split: GLUESplit) -> GLUEFileLayout {
        let labelled = split.hasLabels
        switch self {
        case .cola where labelled:
            // No header: source code, label, original judgement (`*` or empty), sentence.
            return GLUEFileLayout(header: nil, columnCount: 4, textA: .position(3), textB: nil, label: .position(1))
        case .cola, .sst2:
            return labelled
                ? GLUEFileLayout(header: ["sentence", "label"], textA: .named("sentence"), label: .named("label"))
                : GLUEFileLayout(header: ["index", "sentence"], textA: .named("sentence"))
        case .mrpc:
            let texts = ["#1 ID", "#2 ID", "#1 String", "#2 String"]
            return GLUEFileLayout(header: [labelled ? "Quality" : "index"] + texts, textA: .named("#1 String"),
                                  textB: .named("#2 String"), label: labelled ? .named("Quality") : nil)
        case .qqp:
            return labelled
                ? GLUEFileLayout(header: ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
                                 textA: .named("question1"), textB: .named("question2"), label: .named("is_duplicate"))
                : GLUEFileLayout(header: ["id", "question1", "question2"], textA: .named("question1"),
                                 textB: .named("question2"))
        case .stsb:
            let columns = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2"]
            return GLUEFileLayout(header: columns + (labelled ? ["score"] : []), textA: .named("sentence1"),
                                  textB: .named("sentence2"), label: labelled ? .named("score") : nil)
        case .mnli:
            let columns = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
                           "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"]
            let labels = split == .train ? ["label1", "gold_label"]
                : labelled ? ["label1", "label2", "label3", "label4", "label5", "gold_label"] : []
            return GLUEFileLayout(header: columns + labels, textA: .named("sentence1"), textB: .named("sentence2"),
                                  label: labelled ? .named("gold_label") : nil)
        case .qnli:
            return GLUEFileLayout(header: ["index", "question", "sentence"] + (labelled ? ["label"] : []),
                                  textA: .named("question"), textB: .named("sentence"),
                                  label: labelled ? .named("label") : nil)
        case .rte, .wnli:
            return GLUEFileLayout(header: ["index", "sentence1", "sentence2"] + (labelled ? ["label"] : []),
                                  textA: .named("sentence1"), textB: .named("sentence2"),
                                  label: labelled ? .named("label") : nil)
        }
    }
}

/// A split of a GLUE task. MNLI's `dev` and `test` are its matched sections; the mismatched ones
/// are separate splits.
public enum GLUESplit: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// The training split (`train.tsv`).
    case train
    /// The development split (`dev.tsv`; MNLI's matched section, `dev_matched.tsv`); GLUE's usual evaluation split.
    case dev
    /// The test split (`test.tsv`; MNLI `test_matched.tsv`), without labels.
    case test
    /// MNLI's mismatched development section (`dev_mismatched.tsv`): genres absent from training.
    case devMismatched = "dev_mismatched"
    /// MNLI's mismatched test section (`test_mismatched.tsv`), without labels.
    case testMismatched = "test_mismatched"

    /// The split's name in options and results, for example `dev_mismatched`.
    public var description: String { rawValue }

    /// `train`, `dev` (also `dev_matched`, `validation`), `test` (also `test_matched`),
    /// `dev_mismatched`, `test_mismatched`.
    public init(parsing text: String) throws {
        switch text.lowercased() {
        case "train": self = .train
        case "dev", "dev_matched", "validation", "validation_matched": self = .dev
        case "test", "test_matched": self = .test
        case "dev_mismatched", "validation_mismatched": self = .devMismatched
        case "test_mismatched": self = .testMismatched
        default:
            throw BertologyError.usage("unknown split \"\(text)\" (one of: train, dev, test, dev_mismatched, test_mismatched)")
        }
    }

    /// GLUE's test labels are not public: test files have no label column.
    public var hasLabels: Bool { self != .test && self != .testMismatched }
}

/// A metric as GLUE defines it.
public enum GLUEMetric: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// Fraction of examples whose predicted class is the label.
    case accuracy
    /// F1 of the positive class (label 1): 2TP / (2TP + FP + FN).
    case f1
    /// Matthews correlation coefficient (CoLA).
    case mcc
    /// Pearson correlation of predicted and gold scores (STS-B).
    case pearson
    /// Spearman rank correlation (ties get their average rank) (STS-B).
    case spearman
    /// The mean of Pearson and Spearman (Hugging Face's STS-B "corr").
    case corr

    /// The metric's name in results: `accuracy`, `f1`, `mcc`, `pearson`, `spearman` or `corr`.
    public var description: String { rawValue }
}

/// Where an example's fields are in a GLUE file.
struct GLUEFileLayout: Sendable {
    enum Column: Sendable {
        /// A column of the header, found by name.
        case named(String)
        /// A 0-based position (files without a header).
        case position(Int)
    }

    /// The header the task's files have (nil: none, CoLA train/dev). Columns are found by name,
    /// so a file with extra columns still reads; every row must have as many fields as the header.
    let header: [String]?
    /// Fields per row in a file without a header.
    let columnCount: Int?
    let textA: Column
    let textB: Column?
    let label: Column?

    init(header: [String]?, columnCount: Int? = nil, textA: Column, textB: Column? = nil, label: Column? = nil) {
        self.header = header
        self.columnCount = columnCount
        self.textA = textA
        self.textB = textB
        self.label = label
    }
}
