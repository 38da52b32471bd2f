import BertologyEngine
import Foundation

/// Fine-tunes a BERT checkpoint on a GLUE task, as the paper does (§4.3, Table 1): a new
/// classifier on the pre-trained encoder (or every weight random), trained on the task's train split
/// with AdamW, a linear warmup and decay, one seeded shuffle per epoch and dynamic padding, and scored
/// on the dev split after each epoch with the task's metric.
///
/// ```swift
/// let base = try Checkpoint.load(URL(fileURLWithPath: "models/all-MiniLM-L6-v2"))
/// var options = FineTuningOptions(task: .mrpc, dataFolder: URL(fileURLWithPath: "glue_data"))
/// options.limit = 800                      // a seeded sample of the train split
/// let run = try FineTuning(checkpoint: base, options: options)
/// for notice in run.notices { print(notice) }
/// let result = try run.run(writingTo: URL(fileURLWithPath: "out/mrpc"), progress: { print($0) })
/// print(result.report.dev)                 // ["f1": ..., "accuracy": ...]
/// ```
///
/// The folder written holds a Hugging Face checkpoint (`config.json`, `model.safetensors`, and the
/// base's tokenizer files: `tokenizer.json` and/or `vocab.txt`, `tokenizer_config.json`) that `Checkpoint.load` and transformers'
/// `BertForSequenceClassification` load; `train.json` (``FineTuningReport``), `train.csv` (one row per
/// step), `timing.json` (``FineTuningTiming``); and `checkpoint/`, the state a resumed run continues
/// from (weights, AdamW moments, step; written at each epoch's end and every `saveEvery` steps, new
/// files first, then renamed into place). A run interrupted (cancelled, killed) and resumed writes the
/// same bytes as one that was not, timing.json excepted.
///
/// Cancellation is cooperative: cancelling the current task stops the run between two steps, after a
/// checkpoint of the state reached, with `BertologyError` `.cancelled`.
public struct FineTuning: Sendable {
    /// The base checkpoint: encoder weights (unless random), shape, vocabulary, tokenizer.
    public let checkpoint: Checkpoint
    /// The recipe.
    public let options: FineTuningOptions
    /// The training examples (after the `limit` sample).
    public let train: GLUEDataset
    /// The dev examples scored after each epoch.
    public let dev: GLUEDataset
    /// Model output `i` predicts the task label named `labelNames[i]` (config.json id2label); empty for STS-B.
    public let labelNames: [String]
    /// The truncation length used: `options.maxLength`, at most the model's positions.
    public let maxLength: Int
    /// Things the caller should tell the user (a pooler created, a length clamped); not errors.
    public let notices: [String]
    /// The learning-rate schedule of the run.
    public let schedule: LinearWarmupSchedule

    /// Reads the task's train and dev splits from `options.dataFolder` and checks everything before
    /// any work starts (nothing is written).
    /// - Parameters:
    ///   - checkpoint: the base model.
    ///   - options: the recipe.
    /// - Throws: `BertologyError` `.usage` for options out of range, `.badInput`/`.io` for data files
    ///   that are missing, malformed, unlabelled or labelled with labels the task does not have.
    public init(checkpoint: Checkpoint, options: FineTuningOptions) throws {
        try options.validate()
        let task = options.task
        var train = try GLUEDataset.load(task: task, split: .train, folder: options.dataFolder)
        if let limit = options.limit { train = train.sampled(limit: limit, seed: FineTuningOptions.sampleSeed) }
        let dev = try GLUEDataset.load(task: task, split: .dev, folder: options.dataFolder)
        try self.init(checkpoint: checkpoint, train: train, dev: dev, options: options)
    }

    /// Uses datasets read (or built) elsewhere; `options.limit` and `options.dataFolder` are only recorded.
    /// - Throws: as ``init(checkpoint:options:)``.
    public init(checkpoint: Checkpoint, train: GLUEDataset, dev: GLUEDataset, options: FineTuningOptions) throws {
        try options.validate()
        let task = options.task
        for dataset in [train, dev] {
            guard dataset.task == task else {
                throw BertologyError.usage("\(dataset.file.path) holds \(dataset.task) examples; the run fine-tunes \(task)")
            }
            guard !dataset.examples.isEmpty else {
                throw BertologyError.badInput(dataset.file.path, "no examples")
            }
            if let unlabelled = dataset.examples.first(where: { $0.label == nil }) {
                throw BertologyError.badInput(dataset.file.path, at: "line \(unlabelled.line)",
                    "no label: fine-tuning needs the \(dataset.split) split's labels (GLUE test files have none)")
            }
        }
        var notices: [String] = []
        let model = checkpoint.model
        let positions = model.config.maxSequenceLength
        if options.maxLength > positions {
            notices.append("`maxLength` \(options.maxLength) is beyond the model's \(positions) positions (max_position_embeddings): \(positions) is used")
        }
        maxLength = min(options.maxLength, positions)
        if maxLength <= (task.isPair ? 3 : 2) {
            throw BertologyError.usage("`maxLength` \(maxLength) leaves no room for text (the specials take \(task.isPair ? 3 : 2) tokens)")
        }
        if options.initialization == .pretrained && !model.hasPooler {
            notices.append("\(checkpoint.folder.path) has no pooler (pooler.dense): a new one is created (normal, std 0.02; bias 0) and trained with the classifier")
        }
        if model.hasClassifier {
            notices.append("the checkpoint's own classifier (\(model.config.numLabels) outputs) is not used: a new one is created for \(task)")
        }
        self.checkpoint = checkpoint
        self.options = options
        self.train = train
        self.dev = dev
        self.labelNames = Self.labelNames(task)
        self.notices = notices
        let steps = options.epochs * Self.stepsPerEpoch(examples: train.count, batchSize: options.batchSize)
        self.schedule = LinearWarmupSchedule(peak: options.learningRate, totalSteps: steps, warmupRatio: options.warmupRatio)
    }

    /// The config.json `id2label` names for a task's classifier outputs, in the task's label order
    /// (output `i` is `GLUETask.labels[i]`). Tasks whose file labels are digits get the names Hugging
    /// Face `datasets` gives them (MRPC `not_equivalent`/`equivalent`, SST-2 `negative`/`positive`, ...),
    /// which `LabelMapping` maps back. Empty for STS-B (one regression output).
    public static func labelNames(_ task: GLUETask) -> [String] {
        guard let labels = task.labels else { return [] }
        return zip(labels, task.labelSynonyms).map { label, synonyms in
            label.allSatisfy(\.isNumber) ? (synonyms.first ?? label) : label
        }
    }

    /// Outputs of the classifier: the task's labels, or 1 for a regression task.
    public var numLabels: Int { task.labels?.count ?? 1 }
    /// The task.
    public var task: GLUETask { options.task }
    /// Optimizer steps per epoch: `ceil(train examples / batch size)`.
    public var stepsPerEpoch: Int { Self.stepsPerEpoch(examples: train.count, batchSize: options.batchSize) }
    /// Optimizer steps of the run.
    public var totalSteps: Int { schedule.totalSteps }

    static func stepsPerEpoch(examples: Int, batchSize: Int) -> Int { (examples + batchSize - 1) / batchSize }

    /// The optimizer settings of every step.
    var adamW: AdamWOptions {
        var adamW = AdamWOptions()
        adamW.weightDecay = Float(options.weightDecay)
        return adamW
    }

    /// What train.json and the checkpoint record as the run's recipe.
    public var recipe: FineTuningRecipe {
        let adamW = self.adamW
        return FineTuningRecipe(
            task: task, model: checkpoint.folder.path, initialization: options.initialization.name,
            epochs: options.epochs, learningRate: options.learningRate, batchSize: options.batchSize,
            maxLength: maxLength, seed: options.seed, warmupRatio: options.warmupRatio, weightDecay: options.weightDecay,
            adamBeta1: Self.decimal(adamW.beta1), adamBeta2: Self.decimal(adamW.beta2), adamEpsilon: Self.decimal(adamW.eps),
            maxGradNorm: Self.decimal(adamW.maxGradNorm), limit: options.limit, saveEvery: options.saveEvery,
            stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps, warmupSteps: schedule.warmupSteps,
            schedule: "linear warmup from 0 over warmup_steps, then linear decay to 0 (transformers get_linear_schedule_with_warmup)",
            shuffle: "per epoch e (0-based): Fisher-Yates driven by splitmix64 seeded seed + (e + 1) * 0xD1B54A32D192ED03 (mod 2^64)",
            trainFile: train.file.path, trainExamples: train.count, trainPopulation: train.sampling?.population ?? train.count,
            devFile: dev.file.path, devExamples: dev.count, labels: labelNames)
    }

    /// A Float as the Double of its shortest decimal form (0.9, not 0.8999999761581421), for train.json.
    static func decimal(_ value: Float) -> Double { Double("\(value)") ?? Double(value) }

    // MARK: - Running

    /// What a run returns: train.json's content, the times, the files written.
    public struct Result: Sendable {
        /// train.json.
        public let report: FineTuningReport
        /// timing.json.
        public let timing: FineTuningTiming
        /// The dev evaluation of the saved model (predictions included).
        public let dev: EvaluationResult
        /// Files written into the output folder, in order.
        public let files: [String]
    }

    /// Trains (or, with `epochs == 0`, scores the untrained classifier) and writes the output folder.
    /// - Parameters:
    ///   - folder: the output folder; created when missing.
    ///   - resume: continue from `folder/checkpoint` (refused when its recipe differs); a folder with
    ///     nothing in it starts a new run.
    ///   - force: write into a non-empty folder, starting again (its checkpoint is removed).
    ///   - progress: called after each step (`<task> train`, with epoch, loss, learning rate and speed as
    ///     the detail) and during each dev evaluation (`<task> dev`).
    /// - Throws: `BertologyError` `.usage` for a non-empty folder without `resume` or `force`, a
    ///   checkpoint of another recipe, or both flags; `.badInput` when a loss is not finite (the run stops
    ///   at that step, the last good checkpoint stays); `.cancelled` when the task is cancelled (after
    ///   a checkpoint); `.io` when a file cannot be written.
    public func run(writingTo folder: URL, resume: Bool = false, force: Bool = false,
                    progress: ProgressHandler? = nil) throws -> Result {
        guard !(resume && force) else {
            throw BertologyError.usage("`resume` continues the run in the folder, `force` starts it again: give one")
        }
        // Locked before anything in it is read: a second run on the same folder is refused at once.
        let output = try OutputFolder(folder, acceptingContents: true)
        let store = FineTuningCheckpointStore(folder: folder.appendingPathComponent(FineTuningCheckpointStore.name))
        var saved: FineTuningCheckpointStore.Saved?
        if resume {
            saved = try store.load()
            let entries = (try? output.contents()) ?? []
            if saved == nil && !entries.isEmpty {
                throw BertologyError.usage("\(folder.path) has no checkpoint to resume (\(store.folder.lastPathComponent)/\(FineTuningCheckpointStore.stateName) is missing); add `force` to start again there, or choose another `folder`")
            }
            if let saved { try Self.requireSameRecipe(saved.recipe, recipe, folder: store.folder) }
        }
        try output.requireEmpty(force: force || resume)
        if force { store.removeAll() }
        store.removeLeftovers()
        do {
            return try options.epochs == 0 ? scoreUntrained(output, progress: progress)
                                           : train(output, store: store, saved: saved, progress: progress)
        } catch {
            // Temporary files go; so does the folder when this run made it and wrote nothing in it.
            output.discard()
            throw error
        }
    }

    /// 0 epochs: the new classifier on the encoder, scored under each seed; the first seed's model is saved.
    private func scoreUntrained(_ output: OutputFolder, progress: ProgressHandler?) throws -> Result {
        let start = DispatchTime.now().uptimeNanoseconds
        var scores: [FineTuningSeedScore] = []
        var first: EvaluationResult?
        for seed in options.seeds {
            if Task.isCancelled { throw BertologyError(.cancelled, "scoring of the untrained classifier stopped before seed \(seed)") }
            let trainer = try SequenceClassifierTrainer(checkpoint: checkpoint, numLabels: numLabels,
                                                        initialization: options.initialization, seed: seed)
            let result = try evaluateDev(trainer, progress: progress)
            scores.append(FineTuningSeedScore(seed: seed, dev: result.metrics))
            if first == nil {
                first = result
                try writeModel(trainer, to: output)
            }
        }
        let names = task.metrics.map(\.rawValue)
        let range = Dictionary(uniqueKeysWithValues: names.compactMap { name -> (String, FineTuningRange)? in
            let values = scores.compactMap { $0.dev[name] }
            return values.count == scores.count ? (name, FineTuningRange(values)) : nil
        })
        let report = FineTuningReport(recipe: recipe, epochs: [], dev: first!.metrics,
                                      headlineMetric: task.headlineMetric.rawValue,
                                      untrained: scores, untrainedRange: range, steps: 0)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let timing = FineTuningTiming(startStep: 0, trainExamples: 0, trainSeconds: 0, examplesPerSecond: 0,
                                      totalSeconds: seconds, epochs: [])
        try writeReports(report, steps: [], timing: timing, to: output)
        return Result(report: report, timing: timing, dev: first!, files: output.written)
    }

    private func train(_ output: OutputFolder, store: FineTuningCheckpointStore, saved: FineTuningCheckpointStore.Saved?,
                       progress: ProgressHandler?) throws -> Result {
        let runStart = DispatchTime.now().uptimeNanoseconds
        let trainer = try SequenceClassifierTrainer(checkpoint: checkpoint, numLabels: numLabels,
                                                    initialization: options.initialization, seed: options.seed)
        var steps: [FineTuningStep] = []
        var epochs: [FineTuningEpoch] = []
        var step = 0
        if let saved {
            try store.restore(saved, into: trainer)
            steps = saved.steps
            epochs = saved.epochs
            step = saved.step
        }
        let startStep = step
        let recipe = self.recipe
        let tokenizer = checkpoint.tokenizer
        let maxLength = self.maxLength
        let encodings = train.examples.map { tokenizer.encode($0.textA, pair: $0.textB, maxLength: maxLength) }
        let labels = train.examples.map { $0.label! }
        let perEpoch = stepsPerEpoch, total = totalSteps, batchSize = options.batchSize
        let adamW = self.adamW
        // Activations sized once for the largest batch of the run: steady-state steps allocate nothing.
        trainer.reserve(batchSize: min(batchSize, train.count), sequenceLength: encodings.map(\.count).max() ?? 1)
        var order: [Int] = []
        var orderEpoch = -1
        var lastSaved = saved?.step
        var trainNanoseconds: UInt64 = 0
        var trainedExamples = 0
        var epochTiming: [FineTuningTiming.Epoch] = []
        var epochTrainNanoseconds: UInt64 = 0, epochExamples = 0
        var lastDev: EvaluationResult?
        let phase = "\(task) train"

        func save() throws {
            try store.save(FineTuningCheckpointStore.Saved(recipe: recipe, step: step, epochs: epochs, steps: steps),
                           trainer: trainer)
            lastSaved = step
        }
        func endEpoch(_ epoch: Int) throws {
            let devStart = DispatchTime.now().uptimeNanoseconds
            let result: EvaluationResult
            do {
                result = try evaluateDev(trainer, progress: progress)
            } catch let error as BertologyError where error.kind == .cancelled {
                // Stopped while scoring: keep the epoch's weights; a resume scores them first.
                if lastSaved != step { try save() }
                throw error
            }
            lastDev = result
            let losses = steps.filter { $0.epoch == epoch + 1 }.map(\.loss)
            epochs.append(FineTuningEpoch(epoch: epoch + 1, step: step, meanLoss: losses.reduce(0, +) / Double(max(1, losses.count)),
                                          dev: result.metrics))
            let devSeconds = Double(DispatchTime.now().uptimeNanoseconds - devStart) / 1e9
            let seconds = Double(epochTrainNanoseconds) / 1e9
            epochTiming.append(.init(epoch: epoch + 1, trainSeconds: seconds,
                                     examplesPerSecond: seconds > 0 ? Double(epochExamples) / seconds : 0, devSeconds: devSeconds))
            epochTrainNanoseconds = 0
            epochExamples = 0
            try save()
        }

        // A checkpoint written after an epoch's last step but before its dev score (`saveEvery` on the boundary).
        if step > 0 && step % perEpoch == 0 && epochs.count < step / perEpoch { try endEpoch(step / perEpoch - 1) }
        while step < total {
            let epoch = step / perEpoch, position = step % perEpoch
            if Task.isCancelled {
                if lastSaved != step { try save() }
                throw BertologyError(.cancelled, "fine-tuning stopped at step \(step) of \(total) (epoch \(epoch + 1)); the checkpoint in \(store.folder.path) holds it")
            }
            if orderEpoch != epoch {
                order = EpochShuffle.order(count: train.count, seed: options.seed, epoch: epoch)
                orderEpoch = epoch
            }
            let rows = Array(order[(position * batchSize)..<min(train.count, (position + 1) * batchSize)])
            let batch = Batch(encodings: rows.map { encodings[$0] }, padId: tokenizer.padId)
            let targets: TrainingTargets = task.isRegression
                ? .scores(rows.map { Float(labels[$0].score!) })
                : .classes(rows.map { Int32(labels[$0].classIndex!) })
            let learningRate = schedule.learningRate(afterSteps: step)
            let stepStart = DispatchTime.now().uptimeNanoseconds
            let result: TrainingStepResult
            do {
                result = try trainer.trainStep(batch, targets: targets, learningRate: learningRate, options: adamW)
                guard result.loss.isFinite else { throw BertologyError.badInput(nil, "the loss is \(result.loss)") }
            } catch let error as BertologyError where error.kind == .cancelled {
                throw error
            } catch {
                let kept = lastSaved.map { "the last good checkpoint (step \($0)) is kept in \(store.folder.path)" }
                    ?? "no checkpoint was written before it"
                throw BertologyError.badInput(nil, "training stopped at step \(step + 1) of \(total) (epoch \(epoch + 1)): \(error); \(kept)")
            }
            let elapsed = DispatchTime.now().uptimeNanoseconds - stepStart
            trainNanoseconds += elapsed
            epochTrainNanoseconds += elapsed
            trainedExamples += rows.count
            epochExamples += rows.count
            step += 1
            steps.append(FineTuningStep(step: step, epoch: epoch + 1, loss: result.loss, learningRate: learningRate,
                                        gradNorm: result.gradNorm))
            if let progress {
                let rate = trainNanoseconds > 0 ? Double(trainedExamples) / (Double(trainNanoseconds) / 1e9) : 0
                progress(Progress(phase: phase, completed: step, total: total,
                                  detail: String(format: "epoch %d/%d, loss %.4f, lr %.3g, %.1f examples/s",
                                                 epoch + 1, options.epochs, result.loss, Double(learningRate), rate)))
            }
            if step % perEpoch == 0 {
                try endEpoch(epoch)
            } else if let every = options.saveEvery, step % every == 0 {
                try save()
            }
        }
        if Task.isCancelled { throw BertologyError(.cancelled, "fine-tuning stopped after its last step, before writing the model") }

        let dev = try lastDev ?? evaluateDev(trainer, progress: progress)
        try writeModel(trainer, to: output)
        let report = FineTuningReport(recipe: recipe, epochs: epochs, dev: dev.metrics,
                                      headlineMetric: task.headlineMetric.rawValue,
                                      untrained: nil, untrainedRange: nil, steps: step)
        let trainSeconds = Double(trainNanoseconds) / 1e9
        let timing = FineTuningTiming(startStep: startStep, trainExamples: trainedExamples, trainSeconds: trainSeconds,
                                      examplesPerSecond: trainSeconds > 0 ? Double(trainedExamples) / trainSeconds : 0,
                                      totalSeconds: Double(DispatchTime.now().uptimeNanoseconds - runStart) / 1e9,
                                      epochs: epochTiming)
        try writeReports(report, steps: steps, timing: timing, to: output)
        return Result(report: report, timing: timing, dev: dev, files: output.written)
    }

    /// The trainer's current weights scored on the dev split, with the labels the saved config names.
    func evaluateDev(_ trainer: SequenceClassifierTrainer, progress: ProgressHandler?) throws -> EvaluationResult {
        let model = try trainer.inferenceModel()
        let scored = try Checkpoint(model: model, tokenizer: checkpoint.tokenizer, folder: checkpoint.folder)
        let evaluation = EvaluationOptions(scorer: .classifier, maxLength: maxLength,
                                           labels: labelNames.isEmpty ? nil : labelNames)
        return try PreparedEvaluation(checkpoint: scored, dataset: dev, options: evaluation).run(progress: progress)
    }

    // MARK: - Output files

    /// config.json, model.safetensors and the base checkpoint's tokenizer files (tokenizer.json,
    /// vocab.txt, tokenizer_config.json, special_tokens_map.json, whichever it has): a Hugging Face
    /// `BertForSequenceClassification` checkpoint. A base folder with only vocab.txt gets a
    /// tokenizer_config.json of its lower-casing options.
    func writeModel(_ trainer: SequenceClassifierTrainer, to output: OutputFolder) throws {
        try output.write(try classifierConfigJSON(), to: "config.json")
        try output.write(SafeTensorsWriter.encode(trainer.namedParameters()), to: "model.safetensors")
        for name in ["tokenizer.json", "vocab.txt", "special_tokens_map.json", "tokenizer_config.json"] {
            let url = checkpoint.folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            try output.write(try InputFile.read(url), to: name)
        }
        let hasConfig = FileManager.default.fileExists(
            atPath: checkpoint.folder.appendingPathComponent("tokenizer_config.json").path)
        let fromVocabulary = !FileManager.default.fileExists(
            atPath: checkpoint.folder.appendingPathComponent("tokenizer.json").path)
        if !hasConfig && fromVocabulary {
            try output.write(tokenizerConfigJSON(), to: "tokenizer_config.json")
        }
    }

    /// The base checkpoint's config.json with the classifier's fields: `architectures`
    /// `["BertForSequenceClassification"]`, `id2label`/`label2id` (which give `num_labels`), and
    /// `problem_type` (`regression` for STS-B, `single_label_classification` otherwise). Other fields
    /// (dropout rates, initializer range, ...) are kept as the base gives them.
    public func classifierConfigJSON() throws -> Data {
        let url = checkpoint.folder.appendingPathComponent("config.json")
        let data = try InputFile.read(url)
        guard var fields = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw BertologyError.badInput(url.path, "expected a JSON object")
        }
        let names = labelNames.isEmpty ? ["LABEL_0"] : labelNames
        fields["architectures"] = [checkpoint.model.config.family.sequenceClassifierName]
        fields["id2label"] = Dictionary(uniqueKeysWithValues: names.enumerated().map { (String($0.offset), $0.element) })
        fields["label2id"] = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0.element, $0.offset) })
        fields["problem_type"] = task.isRegression ? "regression" : "single_label_classification"
        // id2label says how many outputs there are; a stale num_labels from a base classifier would contradict it.
        fields.removeValue(forKey: "num_labels")
        return try JSONSerialization.data(withJSONObject: fields, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }

    /// A tokenizer_config.json for a base folder without one: its lower-casing options and the tokenizer class.
    func tokenizerConfigJSON() -> String {
        let options = checkpoint.tokenizer.options
        let strip = options.stripAccents.map { $0 ? "true" : "false" } ?? "null"
        return """
        {
          "do_lower_case": \(options.doLowerCase),
          "model_max_length": \(checkpoint.model.config.maxPositionEmbeddings),
          "strip_accents": \(strip),
          "tokenize_chinese_chars": \(options.tokenizeChineseChars),
          "tokenizer_class": "BertTokenizer"
        }

        """
    }

    /// train.json, train.csv, timing.json.
    func writeReports(_ report: FineTuningReport, steps: [FineTuningStep], timing: FineTuningTiming,
                      to output: OutputFolder) throws {
        try output.write(try JSONOutput.encode(report, pretty: true) + Data("\n".utf8), to: "train.json")
        try output.write(FineTuningCheckpointStore.csv(steps), to: "train.csv")
        try output.write(try JSONOutput.encode(timing, pretty: true) + Data("\n".utf8), to: "timing.json")
    }

    /// Refuses a checkpoint made with another recipe, naming the fields that differ.
    static func requireSameRecipe(_ saved: FineTuningRecipe, _ current: FineTuningRecipe, folder: URL) throws {
        guard saved != current else { return }
        func fields(_ recipe: FineTuningRecipe) -> [String: String] {
            let data = (try? JSONOutput.encode(recipe)) ?? Data()
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            return object.mapValues { "\($0)" }
        }
        let a = fields(saved), b = fields(current)
        let differing = Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
        let shown = differing.prefix(4).map { "\($0) \(a[$0] ?? "none") -> \(b[$0] ?? "none")" }.joined(separator: ", ")
        throw BertologyError.usage("the checkpoint in \(folder.path) was made with another recipe (\(shown)); resume with the same options, or add `force` to start again")
    }
}
