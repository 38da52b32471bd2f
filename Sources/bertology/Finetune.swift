import ArgumentParser
import Bertology
import Foundation

struct Finetune: AsyncParsableCommand, ResumableRun {
    static let resumedRun = "the run in --out"
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a checkpoint on a GLUE task (a new classifier; the paper's Table 1), on the CPU.",
        discussion: """
        Example: bertology finetune --task MRPC --data glue_data --out out/mrpc
        Trains on the task's train split (batch 32, 3 epochs, AdamW lr 5e-5 with 10% linear warmup and linear decay,
        weight decay 0.01, 128 tokens, seed 42: the paper's recipe) and scores the dev split after each epoch.
        --out gets a Hugging Face checkpoint (config.json, model.safetensors, vocab.txt, tokenizer_config.json) that
        `bertology eval/analyze/ablate --model` and transformers load, train.json (recipe, per-epoch loss and dev
        metrics), train.csv (per-step loss, lr, grad norm), timing.json, and checkpoint/ (state written at each epoch's
        end and every --save-every steps): after an interruption, the same command with --resume continues it and ends
        with the same files. --epochs 0 scores the untrained classifier on the encoder (--seeds 1,2,3: one score per
        seed and their range). Details: docs/FINETUNE.md.
        """)

    @OptionGroup var modelOptions: ModelOptions

    /// Accepted only as fp32: training is fp32, and the dev scores in train.json must be the saved
    /// checkpoint's fp32 numbers (what transformers reproduces); `eval --precision` scores it in bf16.
    @OptionGroup var precision: PrecisionOption

    @Option(help: taskHelp)
    var task: GLUETask

    @Option(help: dataHelp)
    var data: String?

    @Option(name: .customLong("init"), help: ArgumentHelp("pretrained (the checkpoint's encoder, a new classifier) or random (every weight random, BERT's init).", valueName: "pretrained|random"))
    var initialization: TrainingInitialization = .pretrained

    @Option(help: "Passes over the training examples (0: score the untrained classifier only).")
    var epochs = 3

    @Option(help: "Peak learning rate (after warmup).")
    var lr = 5e-5

    @Option(help: "Examples per optimizer step.")
    var batchSize = 32

    @Option(help: "Truncate longest-first to this many tokens, specials included (at most the model's positions).")
    var maxLength = 128

    @Option(help: ArgumentHelp("Seed of the classifier's init, dropout and the shuffles.", valueName: "S"))
    var seed: UInt64 = 42

    @Option(help: ArgumentHelp("With --epochs 0: score the untrained classifier under each seed and report the range (the first seed's model is saved).", valueName: "S1,S2,..."))
    var seeds: String?

    @Option(help: "Fraction of the steps spent warming the learning rate up from 0.")
    var warmupRatio = 0.1

    @Option(help: "AdamW decoupled weight decay (not on biases and LayerNorm weights).")
    var weightDecay = 0.01

    @Option(help: ArgumentHelp("Train on a seeded sample of N training examples (seed 42, whatever --seed is).", valueName: "N"))
    var limit: Int?

    @Option(help: ArgumentHelp("Also write a checkpoint every N steps (one is always written at each epoch's end).", valueName: "N"))
    var saveEvery: Int?

    @Option(help: ArgumentHelp("Output folder (created; refused when it exists and is not empty, unless --resume or --force).", valueName: "OUTDIR"))
    var out: String

    @Flag(help: "Continue the run in --out from its checkpoint (or start it); refused if the options differ.")
    var resume = false

    @Flag(help: "Write into a non-empty --out, starting the run again.")
    var force = false

    @Flag(help: "Print train.json's content as one JSON line instead of the summary.")
    var json = false

    func validate() throws {
        guard precision.precision == .fp32 else {
            throw BertologyError.usage("--precision \(precision.precision): finetune trains and scores its dev split in fp32 only; score the saved checkpoint with `bertology eval --precision \(precision.precision)`")
        }
        try validateResumeOrForce()
        if let seeds, try seedList(seeds).isEmpty { throw BertologyError.usage("--seeds names no seed") }
    }

    func run() async throws {
        let source = try GLUESource(task: task, split: .train, data: data)
        var options = FineTuningOptions(task: source.task, dataFolder: source.folder)
        options.initialization = initialization
        options.epochs = epochs
        options.learningRate = lr
        options.batchSize = batchSize
        options.maxLength = maxLength
        options.seed = seed
        if let seeds, case let parsed = try seedList(seeds), let first = parsed.first {
            options.seed = first
            options.extraSeeds = Array(parsed.dropFirst())
        }
        options.warmupRatio = warmupRatio
        options.weightDecay = weightDecay
        options.limit = limit
        options.saveEvery = saveEvery
        try options.validate()
        let outURL = URL(fileURLWithPath: out)
        // Locked (a second run on the same --out is refused at once) and checked before the model and
        // the data are read; --resume checks the checkpoint later.
        let result = try await withOutputFolder(out, force: force, acceptingContents: true) { folder in
            if !resume && !force, case let entries = try folder.contents(), !entries.isEmpty {
                throw BertologyError.usage("\(outURL.path) exists and is not empty (\(entries.count) entries); choose another --out folder, add --resume to continue its run, or --force to start again")
            }
            let checkpoint = try modelOptions.load()
            let fineTuning = try FineTuning(checkpoint: checkpoint, options: options)
            for text in fineTuning.notices { note(text) }
            let bar = TerminalProgressBar()
            let handler = bar.handler
            let (resume, force) = (resume, force)
            let checkpointFolder = outURL.appendingPathComponent("checkpoint").path
            let interruption = Interruption.writing(into: folder, advice: {
                "the run so far is kept in \(checkpointFolder); continue with the same command and --resume"
            })
            // SIGINT / SIGTERM stop training between two steps (exit 130), after a checkpoint of the step reached.
            return try await runCancellable(interruption) {
                defer { bar.finish() }
                return try fineTuning.run(writingTo: outURL, resume: resume, force: force, progress: handler)
            }
        }
        emit(json ? try JSONOutput.line(result.report) : FineTuningSummary.text(result))
        let kept = result.report.steps > 0 ? " and checkpoint/" : ""
        say("finetune: wrote \(result.files.count) files\(kept) to \(outURL.path)")
    }
}
