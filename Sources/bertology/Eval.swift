import ArgumentParser
import Bertology
import Foundation

struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a checkpoint on a GLUE split (the official metrics), optionally with heads switched off.",
        discussion: """
        Example: bertology eval --task STS-B --data glue_data --ablate L4-H1,L2-H12 --mode uniform
        --data is the glue_data folder (STS-B/dev.tsv, MNLI/dev_matched.tsv, ...), default $BERTOLOGY_GLUE_DIR or $GLUE_DIR.
        The scorer is the checkpoint's classifier when it has one, else cosine (STS-B only: the cosine of
        the two texts' mean-pooled embeddings). --json prints one object (task, split, n, metrics, model,
        ablation, seconds, ...); --predictions FILE writes one JSON object per example (docs/EVAL.md).
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var precision: PrecisionOption

    @Option(help: taskHelp)
    var task: GLUETask

    @OptionGroup var dataset: DatasetOptions<Eval>

    @OptionGroup var ablation: AblationOptions

    @Option(help: "classifier (the checkpoint's head) or cosine (STS-B, sentence-embedding models). Default: classifier when the checkpoint has one.")
    var scorer: EvaluationScorer?

    @Option(help: ArgumentHelp("The task label each classifier output predicts, comma-separated (overrides config.json id2label).", valueName: "NAMES"))
    var labels: String?

    @Option(help: ArgumentHelp("Write one JSON line per example to FILE.", valueName: "FILE"))
    var predictions: String?

    @Flag(help: "Replace the --predictions file when it exists (without it, an existing file is refused before the run).")
    var force = false

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    func run() async throws {
        let source = try dataset.source(task: task)
        let options = EvaluationOptions(scorer: scorer, maxLength: dataset.maxLength, batcher: dataset.batcher,
                                        labels: commaSeparated(labels))

        // Checked before the (long) run, so an existing file fails at once.
        // Locked from here to the end: another run writing the same file is refused at once.
        let predictionsFile = try predictions.map { try OutputFile.check($0, option: "--predictions", force: force) }
        defer { predictionsFile?.close() }

        let checkpoint = try modelOptions.load(precision: precision.resolved())
        let interventions = try ablation.interventions(for: checkpoint.model)
        let data = try dataset.load(source)
        let bar = TerminalProgressBar()
        let handler = bar.handler
        // SIGINT / SIGTERM stop the run between batches (exit 130); nothing is written then.
        let interruption = Interruption(cleanup: { predictionsFile?.close() }, advice: Interruption.nothingWritten.advice)
        let (task, split) = (task, dataset.split)
        let result = try await runCancellable(interruption) { [data] in
            let result: EvaluationResult
            do {
                defer { bar.finish() }
                result = try checkpoint.evaluate(data, options: options, interventions: interventions, progress: handler)
            }
            try checkNotCancelled("evaluation of \(task) \(split)")
            if let predictionsFile { try PredictionsFile.write(result, to: predictionsFile.url) }
            return result
        }
        dataset.warnIfTruncated(in: data.file.path, result.truncated, of: result.n, to: result.maxLength,
                                positions: checkpoint.model.config.maxSequenceLength, hint: "; --predictions marks them")
        emit(json ? try JSONOutput.line(result) : EvaluationSummary.text(result))
    }
}

extension EvaluationScorer: ExpressibleByArgument {}

extension Eval: DatasetCommand {
    static let sampleVerb = "Evaluate"
}
