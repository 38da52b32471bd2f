import ArgumentParser
import Bertology
import Foundation

struct Analyze: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attention analyses over a dataset: special tokens, entropy, pattern types, model-vs-model change, relation probes.",
        discussion: """
        Example: bertology analyze --task SST-2 --data glue_data --limit 1000 --out out/sst2
        Writes <analysis>.json, per-head grids as .csv/.npy/.svg, and index.html (self-contained) into --out.
        --compare DIR adds the cosine between the two models' maps; --relations FILE (JSON Lines:
        {"words": [...], "pairs": [[from, to]]}) adds the relation probe. Definitions: docs/ANALYSES.md.
        --viewer also writes viewer.html, the interactive attention viewer (--compare DIR's maps beside
        the model's; --viewer-scores an ablate run's ablation.json): docs/VIEWER.md.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var precision: PrecisionOption

    @Option(help: "GLUE task: CoLA, SST-2, MRPC, QQP, STS-B, MNLI, QNLI, RTE or WNLI (any case). Optional with --only relations.")
    var task: GLUETask?

    @OptionGroup var dataset: DatasetOptions<Analyze>

    @Option(help: ArgumentHelp("A second checkpoint (same tokenizer and shape) to compare attention maps with.", valueName: "DIR2"))
    var compare: String?

    @Option(help: ArgumentHelp("Cosine variants: cropped (L x L real tokens), padded (the paper's code: padded to --padded-length), or both: cropped,padded.", valueName: "LIST"))
    var cosine = "cropped"

    @Option(help: "The fixed length of the padded cosine variant (longer inputs are truncated to it).")
    var paddedLength = 200

    @Option(help: ArgumentHelp("A JSON Lines file of sentences with word pairs for the relation probe.", valueName: "FILE"))
    var relations: String?

    @Option(help: ArgumentHelp("Run only these analyses: special-tokens, entropy, patterns, cosine, relations (comma-separated).", valueName: "LIST"))
    var only: String?

    @Option(help: ArgumentHelp("Output folder (created; refused when it exists and is not empty, unless --force).", valueName: "OUTDIR"))
    var out: String

    @Flag(help: "Write into --out even when it is not empty (files of the same names are replaced).")
    var force = false

    @Option(help: "Sample maps per pattern type on the thumbnail sheet.")
    var samplesPerType = 12

    @Flag(help: "Also write viewer.html: the interactive attention viewer on a seeded sample of the task's examples.")
    var viewer = false

    @Option(help: "Examples in the viewer's sample (inputs cut to 64 tokens).")
    var viewerExamples = AttentionViewerData.defaultExamples

    @Option(help: ArgumentHelp("A `bertology ablate` run's ablation.json: the viewer shows each head's score without it.", valueName: "FILE"))
    var viewerScores: String?

    @Flag(help: "Print all results as one JSON object on stdout.")
    var json = false

    /// `--cosine`'s variants.
    func cosineVariants() throws -> [CosineVariant] {
        try cosine.split(separator: ",").map { item -> CosineVariant in
            let name = item.trimmingCharacters(in: .whitespaces).lowercased()
            guard let variant = CosineVariant(rawValue: name) else {
                throw BertologyError.usage("unknown cosine variant \"\(name)\" (cropped, padded)")
            }
            return variant
        }
    }

    func validate() throws {
        _ = try only.map(AnalysisKind.parseList)
        _ = try cosineVariants()
        guard samplesPerType >= 0 else { throw BertologyError.usage("--samples-per-type must be at least 0") }
        if viewer && task == nil { throw BertologyError.usage("--viewer needs --task") }
        if !viewer && viewerScores != nil { throw BertologyError.usage("--viewer-scores needs --viewer") }
        guard viewerExamples >= 1 else { throw BertologyError.usage("--viewer-examples must be at least 1") }
    }

    func run() async throws {
        let analyses = try only.map(AnalysisKind.parseList)
        let variants = try cosineVariants()
        let batching = dataset.batcher
        let data = try task.map { try dataset.load(dataset.source(task: $0)) }
        let chosen = precision.resolved()
        let checkpoint = try modelOptions.load(precision: chosen)
        let comparison = try compare.map { try Checkpoint.load(URL(fileURLWithPath: $0), precision: chosen) }
        let relationSet = try relations.map { try RelationProbeSet.load(URL(fileURLWithPath: $0)) }
        let headScores = try viewerScores.map { try AttentionViewerData.HeadScores.load(ablationFile: URL(fileURLWithPath: $0)) }
        let options = AnalysisOptions(analyses: analyses, maxLength: dataset.maxLength,
                                      batcher: batching,
                                      cosineVariants: variants, paddedLength: paddedLength,
                                      samplesPerType: samplesPerType, sampleSeed: dataset.seed)
        let analysis = try AttentionAnalysis(checkpoint: checkpoint, dataset: data, comparison: comparison,
                                             relations: relationSet, options: options)
        // Checked (and locked) before the (long) run, so a full or busy folder fails at once.
        let (results, files) = try await withOutputFolder(out, force: force) { folder in
            let bar = TerminalProgressBar()
            let handler = bar.handler
            let commandLine = CommandLine.arguments.joined(separator: " ")
            // SIGINT / SIGTERM stop the run between batches (exit 130); nothing is written then, and a
            // folder this run created is removed again, so the same command can simply be rerun.
            let interruption = Interruption.writing(into: folder, advice: {
                "nothing was written to \(folder.url.path); rerun the same command to start again"
            })
            return try await runCancellable(interruption) {
                let results: AnalysisResults
                do {
                    defer { bar.finish() }
                    results = try analysis.run(progress: handler)
                }
                try checkNotCancelled("the analysis")
                var viewerPage: String?
                if viewer, let data {
                    let viewerData = try AttentionViewerData.build(
                        pretrained: checkpoint, finetuned: comparison, dataset: data, examples: viewerExamples,
                        headScores: headScores, seed: dataset.seed)
                    try checkNotCancelled("the attention viewer")
                    viewerPage = AttentionViewer.page(viewerData, title: "Attention viewer: \(checkpoint.name), \(data.task) \(data.split)")
                }
                var files = try AnalysisReport.write(results, to: folder, commandLine: commandLine)
                if let viewerPage {
                    try folder.write(viewerPage, to: "viewer.html")
                    files.append("viewer.html")
                }
                return (results, files)
            }
        }
        let parameters = results.parameters
        if let file = parameters.dataFile {
            dataset.warnIfTruncated(in: file, parameters.truncated, of: parameters.examples, to: parameters.maxLength,
                                    positions: checkpoint.model.config.maxSequenceLength)
        }
        if json { emit(try JSONOutput.line(results)) }
        let folder = URL(fileURLWithPath: out)
        say("analyze: wrote \(files.count) files to \(folder.path); open \(folder.appendingPathComponent("index.html").path)\(viewer ? " and viewer.html" : "")")
    }
}

extension Analyze: DatasetCommand {
    static let sampleVerb = "Analyse"
    static let seedHelp = "Seed of the --limit sample and of the pattern-type sample maps."
}
