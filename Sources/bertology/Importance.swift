import ArgumentParser
import Bertology
import Foundation

struct Importance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Gradient head importance (Michel et al. 2019): every head's and layer's |dL/d gate| from one backward pass per batch.",
        discussion: """
        Example: bertology importance --task MRPC --model out/mrpc-model --data glue_data --out out/mrpc-importance
        Needs a fine-tuned classifier (the loss uses its head and the gold labels). Writes importance.json, heads.csv/.npy/.svg
        (I_h), heads-normalized.* (divided by each layer's L2 norm, as Michel et al.), layers.csv/.npy/.svg and index.html
        into --out. --ablation FILE (an `ablate` run's ablation.json of the same model) adds the Spearman correlation
        between importance and the score drop of switching each head off. Definitions: docs/IMPORTANCE.md.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: taskHelp)
    var task: GLUETask

    @OptionGroup var dataset: DatasetOptions<Importance>

    @Option(help: ArgumentHelp("The task label each classifier output predicts, comma-separated (overrides config.json id2label).", valueName: "NAMES"))
    var labels: String?

    @Option(help: ArgumentHelp("An `ablate` run's ablation.json of the same model: compare importance with its score drops.", valueName: "FILE"))
    var ablation: String?

    @Option(help: ArgumentHelp("Output folder (created; refused when it exists and is not empty, unless --force).", valueName: "OUTDIR"))
    var out: String

    @Flag(help: "Write into --out even when it is not empty (files of the same names are replaced).")
    var force = false

    @Flag(help: "Print importance.json's content as one JSON line instead of the summary.")
    var json = false

    func run() async throws {
        let source = try dataset.source(task: task)
        let checkpoint = try modelOptions.load(precision: .fp32)
        let options = EvaluationOptions(scorer: .classifier, maxLength: dataset.maxLength, batcher: dataset.batcher,
                                        labels: commaSeparated(labels))
        let drops = try ablation.map { try ImportanceAgainstAblation.readAblation(URL(fileURLWithPath: $0), checkpoint: checkpoint) }
        let data = try dataset.load(source)
        let file = try await withOutputFolder(out, force: force) { folder in
            let bar = TerminalProgressBar()
            let handler = bar.handler
            let interruption = Interruption.writing(into: folder, advice: {
                "nothing was written to \(folder.url.path); rerun the same command to start again"
            })
            return try await runCancellable(interruption) {
                let result: HeadImportanceResult
                do {
                    defer { bar.finish() }
                    result = try HeadImportance.compute(checkpoint: checkpoint, dataset: data, options: options, progress: handler)
                }
                try checkNotCancelled("head importance")
                let file = ImportanceFile(result, againstAblation: drops.map {
                    ImportanceAgainstAblation(result, $0, file: URL(fileURLWithPath: ablation!).lastPathComponent)
                })
                try ImportanceReport.write(file, to: folder)
                return file
            }
        }
        emit(json ? try JSONOutput.line(file) : ImportanceReport.summary(file))
        let folder = URL(fileURLWithPath: out)
        say("importance: wrote \(folder.path); open \(folder.appendingPathComponent("index.html").path)")
    }
}

extension Importance: DatasetCommand {
    static let splitHelp = "train, dev (MNLI: matched), dev_mismatched (labelled splits: the loss needs the gold labels)."
    static let sampleVerb = "Use"
}
