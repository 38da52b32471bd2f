import ArgumentParser
import Bertology
import Foundation

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the model on one text (or pair) and show every head's attention.",
        discussion: """
        Example: bertology inspect --pair "A man plays a guitar." --ablate L4-H1,L2-H12 --mode uniform --json "Someone is playing music."
        --json prints one object: tokens, input_ids, token_type_ids, attentions [layers][heads][T][T],
        last_hidden_state [T][hidden], and logits (with labels) when the checkpoint has a classifier,
        else sentence_embedding (mean-pooled). --npy FILE writes the attentions as a (layers, heads, T, T) float32 array.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var precision: PrecisionOption
    @OptionGroup var ablation: AblationOptions

    @Option(help: ArgumentHelp("The second text of a pair.", valueName: "TEXT_B"))
    var pair: String?

    @Option(help: "Truncate longest-first to this many tokens (default: the model's maximum).")
    var maxLength: Int?

    @Option(help: ArgumentHelp("Also write the attentions to FILE as a .npy array (layers, heads, T, T).", valueName: "FILE"))
    var npy: String?

    @Flag(help: "Replace the --npy file when it exists (without it, an existing file is refused).")
    var force = false

    @Flag(help: "Print one JSON object with every tensor.")
    var json = false

    @Argument(help: "The text (first text of a pair).")
    var text: String

    func validate() throws {
        if let maxLength, maxLength < (pair == nil ? 2 : 3) {
            throw BertologyError.usage("--max-length \(maxLength) is too small: [CLS] text [SEP] needs at least 2 (3 for a pair)")
        }
    }

    func run() throws {
        let npyFile = try npy.map { try OutputFile.check($0, option: "--npy", force: force) }
        defer { npyFile?.close() }
        let checkpoint = try modelOptions.load(precision: precision.resolved())
        let inspection = try checkpoint.inspect(text, pair: pair, maxLength: maxLength,
                                                interventions: try ablation.interventions(for: checkpoint.model))
        if inspection.encoding.truncated {
            // Cut to fit the model, not as asked: said once, so a long text is never silently cut.
            warnTruncation("the input has \(checkpoint.tokenizer.encode(text, pair: pair).count) tokens, more than",
                           positions: checkpoint.model.config.maxSequenceLength, to: "\(inspection.encoding.count)",
                           maxLength: maxLength)
        }
        if let npyURL = npyFile?.url {
            try inspection.attentions.withUnsafeBufferPointer { values in
                try AtomicFile.write(NPY.encode(values, shape: inspection.attentions.shape), to: npyURL)
            }
        }
        if json {
            emit(try JSONOutput.line(InspectionJSON(inspection, precision: checkpoint.model.precision)))
        } else {
            print(InspectionSummary.text(inspection, checkpoint: checkpoint))
        }
    }
}

/// The JSON layout of `inspect --json`.
struct InspectionJSON: Encodable {
    let tokens: [String]
    let input_ids: [Int32]
    let token_type_ids: [Int32]
    let interventions: String
    /// The precision the model ran in (docs/PRECISION.md).
    let precision: String
    let attentions: [[[[Float]]]]
    let last_hidden_state: [[Float]]
    let logits: [Float]?
    let labels: [String]?
    let sentence_embedding: [Float]?

    init(_ inspection: Inspection, precision: Precision) {
        self.precision = precision.rawValue
        let shape = inspection.attentions.shape
        let values = inspection.attentions.array
        let (layers, heads, t) = (shape[0], shape[1], shape[2])
        tokens = inspection.encoding.tokens
        input_ids = inspection.encoding.inputIds
        token_type_ids = inspection.encoding.tokenTypeIds
        interventions = inspection.interventions.description
        attentions = (0..<layers).map { l in
            (0..<heads).map { h in
                (0..<t).map { i in Array(values[(((l * heads + h) * t + i) * t)..<(((l * heads + h) * t + i + 1) * t)]) }
            }
        }
        let c = inspection.lastHiddenState.shape[1]
        let hidden = inspection.lastHiddenState.array
        last_hidden_state = (0..<t).map { Array(hidden[($0 * c)..<(($0 + 1) * c)]) }
        logits = inspection.logits
        labels = inspection.labels
        sentence_embedding = inspection.logits == nil ? inspection.sentenceEmbedding : nil
    }
}
