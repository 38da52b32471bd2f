import BertologyEngine
import Foundation

/// The analyses `AttentionAnalysis` can run.
public enum AnalysisKind: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// Share of each head's attention on `[CLS]`, `[SEP]` and punctuation (Kovaleva et al. §4.4-4.5; Clark et al. 2019).
    case specialTokens = "special-tokens"
    /// Mean entropy of each head's attention rows, in nats (Clark et al. 2019).
    case entropy
    /// Kovaleva et al.'s five attention-map types (vertical, diagonal, vertical + diagonal, block, heterogeneous) per head.
    case patterns
    /// Needs a second model (the comparison checkpoint).
    case cosine
    /// Needs relation probes (a ``RelationProbeSet``); runs on its sentences, not on the task's.
    case relations

    /// The analysis's name, for example `special-tokens`.
    public var description: String { rawValue }

    /// Parses `special-tokens,entropy` (any case; `special` and `cls` accepted for special-tokens).
    public static func parseList(_ text: String) throws -> [AnalysisKind] {
        var kinds: [AnalysisKind] = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !item.isEmpty {
            let kind: AnalysisKind? = switch item {
            case "special", "special-tokens", "specialtokens", "cls": .specialTokens
            case "pattern", "patterns", "pattern-types": .patterns
            case "relation", "relations", "relation-probe": .relations
            default: AnalysisKind(rawValue: item)
            }
            guard let kind else {
                throw BertologyError.usage("unknown analysis \"\(item)\" (one of: \(allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if !kinds.contains(kind) { kinds.append(kind) }
        }
        guard !kinds.isEmpty else { throw BertologyError.usage("`analyses` needs at least one analysis") }
        return kinds
    }
}

/// Choices of an analysis run other than its inputs.
public struct AnalysisOptions: Sendable {
    /// The analyses' token budget per batch, chosen for the analyses (it happens to equal the
    /// evaluation's): an observed batch also holds its attention probabilities (B x NH x T x T
    /// floats, up to budget x T x NH); on all-MiniLM-L6-v2 it ran as fast as 8192 (docs/ANALYSES.md),
    /// and a hundred examples already fill a batch, so peak memory stops depending on their number.
    public static let defaultTokenBudget = 2048

    /// nil: every analysis the inputs allow (cosine with a second model, relations with a file).
    public var analyses: [AnalysisKind]?
    /// Truncate longest-first to this many tokens, specials included; nil or anything larger
    /// means the model's `max_position_embeddings`.
    public var maxLength: Int?
    /// How examples are grouped into batches (token budget and maximum batch size); only speed and memory depend on it.
    public var batcher: Batcher
    /// Cosine variants to compute (each `padded` one is an extra pass of both models).
    public var cosineVariants: [CosineVariant]
    /// The fixed length of the padded cosine variant (the paper's code: 200). Longer inputs are
    /// truncated to it (longest-first, as the paper's code truncates).
    public var paddedLength: Int
    /// The feature thresholds that decide each map's pattern type.
    public var patternThresholds: PatternThresholds
    /// Sample maps kept per pattern type for the thumbnail sheet.
    public var samplesPerType: Int
    /// Seed of the sample choice.
    public var sampleSeed: UInt64
    /// Most bytes the comparison may hold for one batch of reference maps (layers x B x NH x T x T
    /// floats); batches of long inputs are made smaller to stay within it (never below one example).
    /// 32 MiB leaves typical batches (T <= 64 on all-MiniLM-L6-v2) as the token budget makes them.
    public var comparisonMemoryBudget: Int

    /// Creates options; each default is the value documented on its property.
    /// - Parameters:
    ///   - analyses: the analyses to run; nil for every analysis the inputs allow.
    ///   - maxLength: truncation length in tokens, specials included; nil for the model's limit.
    ///   - batcher: the batching of examples (speed and memory only).
    ///   - cosineVariants: the cosine variants to compute when a second model is given.
    ///   - paddedLength: the length the padded cosine variant pads (or truncates) to.
    ///   - patternThresholds: the thresholds of the pattern-type classifier.
    ///   - samplesPerType: sample maps kept per pattern type for the thumbnail sheet.
    ///   - sampleSeed: seed of the choice of sample maps.
    ///   - comparisonMemoryBudget: most bytes of reference maps the cosine comparison holds per batch.
    public init(analyses: [AnalysisKind]? = nil, maxLength: Int? = nil,
                batcher: Batcher = Batcher(tokenBudget: AnalysisOptions.defaultTokenBudget),
                cosineVariants: [CosineVariant] = [.cropped], paddedLength: Int = 200,
                patternThresholds: PatternThresholds = .standard, samplesPerType: Int = 12, sampleSeed: UInt64 = 42,
                comparisonMemoryBudget: Int = 32 << 20) {
        self.analyses = analyses
        self.maxLength = maxLength
        self.batcher = batcher
        self.cosineVariants = cosineVariants
        self.paddedLength = paddedLength
        self.patternThresholds = patternThresholds
        self.samplesPerType = samplesPerType
        self.sampleSeed = sampleSeed
        self.comparisonMemoryBudget = comparisonMemoryBudget
    }
}

/// Attention analyses of one checkpoint over a dataset (Kovaleva et al. §4.1-4.5), streaming:
/// each batch is run once and folded into every analyzer's running sums, so memory does not grow
/// with the number of examples.
///
///     let analysis = try AttentionAnalysis(checkpoint: model, dataset: sst2, options: AnalysisOptions())
///     let results = try analysis.run()
///     try AnalysisReport.write(results, to: OutputFolder(url, force: false))
public struct AttentionAnalysis: Sendable {
    /// The model analysed.
    public let checkpoint: Checkpoint
    /// The task's examples the attention is measured on; nil when only the relations analysis runs.
    public let dataset: GLUEDataset?
    /// The second model of the cosine analysis.
    public let comparison: Checkpoint?
    /// The sentences and word pairs of the relations analysis; nil when it does not run.
    public let relations: RelationProbeSet?
    /// The options the analysis was created with (``analyses`` and ``maxLength`` hold what they resolved to).
    public let options: AnalysisOptions
    /// The analyses that will run, in report order.
    public let analyses: [AnalysisKind]
    /// The truncation length used (specials included).
    public let maxLength: Int

    /// Checks that the inputs allow the analyses asked for and resolves the analyses and the truncation length.
    /// - Parameters:
    ///   - checkpoint: the model to analyse.
    ///   - dataset: the task's examples; nil when only the relations analysis is wanted.
    ///   - comparison: a second model with the same layers, heads and tokenizer, for the cosine analysis.
    ///   - relations: word pairs to probe, for the relations analysis.
    ///   - options: the analyses to run and how.
    /// - Throws: `BertologyError` `.usage` when an analysis lacks its input (a dataset, a second model,
    ///   a relation file), the dataset is empty, the two models cannot be compared, or the lengths
    ///   leave no room for text.
    public init(checkpoint: Checkpoint, dataset: GLUEDataset?, comparison: Checkpoint? = nil,
                relations: RelationProbeSet? = nil, options: AnalysisOptions = AnalysisOptions()) throws {
        var analyses = options.analyses ?? [.specialTokens, .entropy, .patterns]
            + (comparison != nil ? [.cosine] : []) + (relations != nil ? [.relations] : [])
        if options.analyses == nil && dataset == nil { analyses.removeAll { $0 != .relations } }
        analyses.sort { AnalysisKind.allCases.firstIndex(of: $0)! < AnalysisKind.allCases.firstIndex(of: $1)! }
        guard !analyses.isEmpty else {
            throw BertologyError.usage("nothing to analyse: give a task and its data (`dataset`), or `relations`")
        }
        for kind in analyses {
            switch kind {
            case .relations:
                guard relations != nil else { throw BertologyError.usage("the relations analysis needs `relations`") }
            case .cosine:
                guard comparison != nil else { throw BertologyError.usage("the cosine analysis needs a second model (`comparison`)") }
                fallthrough
            default:
                guard dataset != nil else { throw BertologyError.usage("the \(kind) analysis needs a task and its data (`dataset`)") }
            }
        }
        if let dataset, dataset.examples.isEmpty, analyses.contains(where: { $0 != .relations }) {
            throw BertologyError.usage("no examples to analyse in \(dataset.file.path)")
        }
        let config = checkpoint.model.config
        var positions = config.maxSequenceLength
        if let comparison, analyses.contains(.cosine) {
            try Self.checkComparable(checkpoint, comparison)
            positions = min(positions, comparison.model.config.maxSequenceLength)
            if options.cosineVariants.contains(.padded) && options.paddedLength > positions {
                throw BertologyError.usage("the padded cosine variant pads to \(options.paddedLength) tokens, beyond the models' max_position_embeddings \(positions)")
            }
        }
        guard !options.cosineVariants.isEmpty || !analyses.contains(.cosine) else {
            throw BertologyError.usage("the cosine analysis needs at least one variant (cropped, padded)")
        }
        guard options.paddedLength >= 4 else { throw BertologyError.usage("the padded length must be at least 4") }
        let maxLength = min(options.maxLength ?? positions, positions)
        let specials = dataset?.task.isPair == true ? 3 : 2
        guard maxLength > specials else {
            throw BertologyError.usage("`maxLength` \(maxLength) leaves no room for text (the specials take \(specials) tokens)")
        }
        self.checkpoint = checkpoint
        self.dataset = dataset
        self.comparison = analyses.contains(.cosine) ? comparison : nil
        self.relations = analyses.contains(.relations) ? relations : nil
        self.options = options
        self.analyses = analyses
        self.maxLength = maxLength
    }

    /// Two checkpoints can be compared map by map when they tokenize alike and have the same heads.
    static func checkComparable(_ a: Checkpoint, _ b: Checkpoint) throws {
        let (ca, cb) = (a.model.config, b.model.config)
        guard ca.numHiddenLayers == cb.numHiddenLayers, ca.numAttentionHeads == cb.numAttentionHeads else {
            throw BertologyError.usage("cannot compare \(a.folder.path) (\(ca.numHiddenLayers) layers x \(ca.numAttentionHeads) heads) with \(b.folder.path) (\(cb.numHiddenLayers) x \(cb.numAttentionHeads))")
        }
        let (va, vb) = (a.tokenizer.vocabulary, b.tokenizer.vocabulary)
        let sameVocabulary = va.count == vb.count && (0..<va.count).allSatisfy { va.token(for: Int32($0)) == vb.token(for: Int32($0)) }
        guard sameVocabulary, a.tokenizer.options == b.tokenizer.options else {
            throw BertologyError.usage("cannot compare \(a.folder.path) with \(b.folder.path): their tokenizers differ (vocab.txt or lower-casing), so the same text gives different tokens")
        }
    }

    // MARK: - Running

    /// Runs every analysis and returns the results.
    ///
    /// - Parameter progress: called after each batch, per phase (the task's examples; the padded
    ///   cosine pass; the relation sentences).
    /// - Throws: `BertologyError` `.cancelled` when the current task is cancelled (checked between batches).
    public func run(progress: ProgressHandler? = nil) throws -> AnalysisResults {
        let start = DispatchTime.now().uptimeNanoseconds
        let model = checkpoint.model
        let (layers, heads) = (model.layerCount, model.headCount)
        let classes = TokenClasses(tokenizer: checkpoint.tokenizer)
        let padId = checkpoint.tokenizer.padId
        var timing = AnalysisTiming()
        let session = InferenceSession(model: model)
        let comparisonSession = comparison.map { InferenceSession(model: $0.model) }

        var special: SpecialTokenAttention?, entropy: AttentionEntropy?, patterns: AttentionPatternTypes?
        var cosines: [CosineResult] = []
        var truncated = 0, examples = 0
        if let dataset, analyses.contains(where: { $0 != .relations }) {
            examples = dataset.examples.count
            if analyses.contains(.specialTokens) { special = SpecialTokenAttention(layerCount: layers, headCount: heads, tokenClasses: classes) }
            if analyses.contains(.entropy) { entropy = AttentionEntropy(layerCount: layers, headCount: heads, tokenClasses: classes) }
            if analyses.contains(.patterns) {
                patterns = AttentionPatternTypes(layerCount: layers, headCount: heads, tokenClasses: classes,
                                                 thresholds: options.patternThresholds, samplesPerType: options.samplesPerType,
                                                 seed: options.sampleSeed)
            }
            let cropped = comparison != nil && options.cosineVariants.contains(.cropped)
                ? AttentionComparison(layerCount: layers, headCount: heads, variant: .cropped) : nil
            var analyzers: [any AttentionAnalyzer] = []
            if let special { analyzers.append(special) }
            if let entropy { analyzers.append(entropy) }
            if let patterns { analyzers.append(patterns) }
            if let cropped { analyzers.append(cropped.reference) }
            let group = AnalyzerGroup(analyzers, tokenClasses: classes)
            var runner = analysisRunner("\(dataset.task) \(dataset.split)", total: examples, progress: progress)
            // Tokenized and batched a chunk at a time, so nothing per example outlives its chunk.
            for chunk in chunks(examples) {
                let encodings = encode(dataset, chunk, maxLength: maxLength)
                truncated += encodings.reduce(0) { $0 + ($1.truncated ? 1 : 0) }
                var batcher = options.batcher
                if cropped != nil {
                    batcher.maxBatchSize = comparisonBatchLimit(longest: encodings.map(\.count).max() ?? 1, batcher: batcher)
                }
                let sequences = BatchedSequences(encodings: encodings, padId: padId, batcher: batcher)
                try runner.run(sequences.batches, units: \.rows.count) { prepared in
                    group.beginBatch(rows: prepared.rows.map { $0 + chunk.lowerBound }, batch: prepared.batch)
                    try timed(&timing.forwardSeconds) { try session.forward(prepared.batch, observer: group) }
                    if let cropped, let comparisonSession {
                        try timed(&timing.comparisonSeconds) { try comparisonSession.forward(prepared.batch, observer: cropped.candidate) }
                    }
                }
            }
            timing.analyzerSeconds += group.seconds
            timing.forwardSeconds -= group.seconds
            if let cropped { cosines.append(cropped.result()) }

            if let comparisonSession, options.cosineVariants.contains(.padded) {
                cosines.append(try runPadded(dataset, session: session, comparisonSession: comparisonSession,
                                             padId: padId, progress: progress, timing: &timing))
            }
        }

        var relationResult: RelationProbeResult?
        if let relations {
            let encoded = try relations.sentences.map {
                try EncodedRelationSentence($0, tokenizer: checkpoint.tokenizer, maxLength: maxLength, file: relations.file)
            }
            let probe = RelationProbe(layerCount: layers, headCount: heads, sentences: encoded)
            let sequences = BatchedSequences(encodings: encoded.map(\.encoding), padId: padId, batcher: options.batcher)
            var runner = analysisRunner("relations", total: encoded.count, progress: progress)
            try runner.run(sequences.batches, units: \.rows.count) { prepared in
                probe.beginBatch(rows: prepared.rows, batch: prepared.batch)
                try timed(&timing.forwardSeconds) { try session.forward(prepared.batch, observer: probe) }
            }
            relationResult = probe.result(file: relations.file)
        }

        timing.totalSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let parameters = AnalysisParameters(
            model: checkpoint.folder.path, modelName: checkpoint.name, precision: checkpoint.model.precision,
            layers: layers, heads: heads, compare: comparison?.folder.path, compareName: comparison?.name,
            task: dataset?.task.name, split: dataset?.split.rawValue, dataFile: dataset?.file.path,
            examples: examples, pairs: dataset?.task.isPair, sampling: dataset?.sampling, maxLength: maxLength,
            truncated: truncated, analyses: analyses.map(\.rawValue),
            cosineVariants: comparison != nil ? options.cosineVariants.map(\.rawValue) : [],
            paddedLength: comparison != nil && options.cosineVariants.contains(.padded) ? options.paddedLength : nil,
            patternThresholds: analyses.contains(.patterns) ? options.patternThresholds : nil,
            relationsFile: relations?.file, tokenBudget: options.batcher.tokenBudget, maxBatchSize: options.batcher.maxBatchSize)
        return AnalysisResults(parameters: parameters, specialTokens: special?.result(), entropy: entropy?.result(),
                               patterns: patterns?.result(), cosine: cosines, relations: relationResult, timing: timing)
    }

    /// `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]` for the examples `range`, truncated longest-first to `maxLength`.
    func encode(_ dataset: GLUEDataset, _ range: Range<Int>, maxLength: Int) -> [Encoding] {
        let tokenizer = checkpoint.tokenizer
        let (examples, pairs) = (dataset.examples, dataset.task.isPair)
        return concurrentMap(count: range.count) { index in
            let example = examples[range.lowerBound + index]
            return tokenizer.encode(example.textA, pair: pairs ? example.textB : nil, maxLength: maxLength)
        }
    }

    /// Examples per chunk: each chunk is tokenized, batched and run before the next is tokenized.
    static let chunkSize = 2048

    func chunks(_ count: Int) -> [Range<Int>] {
        stride(from: 0, to: count, by: Self.chunkSize).map { $0..<min(count, $0 + Self.chunkSize) }
    }

    /// The paper's variant of the cosine: inputs padded to `paddedLength` (truncated to it when
    /// longer), both models, whole padded maps compared.
    private func runPadded(_ dataset: GLUEDataset, session: InferenceSession, comparisonSession: InferenceSession,
                           padId: Int32, progress: ProgressHandler?, timing: inout AnalysisTiming) throws -> CosineResult {
        let length = options.paddedLength
        let model = checkpoint.model
        let comparison = AttentionComparison(layerCount: model.layerCount, headCount: model.headCount, variant: .padded)
        let total = dataset.examples.count
        var batcher = options.batcher
        batcher.maxBatchSize = comparisonBatchLimit(longest: length, batcher: batcher)
        var runner = analysisRunner("\(dataset.task) \(dataset.split), cosine padded to \(length)", total: total, progress: progress)
        var cut = 0
        for chunk in chunks(total) {
            let encodings = encode(dataset, chunk, maxLength: min(maxLength, length))
            cut += zip(encodings, encode(dataset, chunk, maxLength: maxLength)).reduce(0) { $0 + ($1.0.count < $1.1.count ? 1 : 0) }
            // Every row is `length` long once padded: plan with that length, so batches respect the token budget.
            try runner.run(batcher.plan(lengths: Array(repeating: length, count: encodings.count)), units: \.rows.count) { plan in
                let batch = Batch(encodings: plan.rows.map { encodings[$0] }, padId: padId, padTo: length)
                try timed(&timing.comparisonSeconds) {
                    try session.forward(batch, observer: comparison.reference)
                    try comparisonSession.forward(batch, observer: comparison.candidate)
                }
            }
        }
        return comparison.result(paddedLength: length, truncated: cut)
    }

    /// The batch size that keeps one batch of reference maps within the memory budget.
    private func comparisonBatchLimit(longest: Int, batcher: Batcher) -> Int {
        let model = checkpoint.model
        let perExample = AttentionComparison.bufferBytes(layerCount: model.layerCount, headCount: model.headCount, size: 1, length: longest)
        return max(1, min(batcher.maxBatchSize, options.comparisonMemoryBudget / max(perExample, 1)))
    }

    private func analysisRunner(_ phase: String, total: Int, progress: ProgressHandler?) -> BatchRunner {
        BatchRunner(phase: phase, total: total, progress: progress) { done in
            "analysis (\(phase)) cancelled after \(done) of \(total) examples"
        }
    }

    private func timed(_ seconds: inout Double, _ body: () throws -> Void) rethrows {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

/// Where the time of an analysis went.
public struct AnalysisTiming: Sendable, Encodable {
    /// The analysed model's forward passes (attention probabilities written out included).
    public var forwardSeconds = 0.0
    /// The analyzers' folding (the per-map statistics included).
    public var analyzerSeconds = 0.0
    /// The compared model's forward passes and the padded cosine pass.
    public var comparisonSeconds = 0.0
    /// Wall-clock time of the whole run, tokenization and batching included.
    public var totalSeconds = 0.0

    enum CodingKeys: String, CodingKey {
        case forwardSeconds = "forward_seconds", analyzerSeconds = "analyzer_seconds"
        case comparisonSeconds = "comparison_seconds", totalSeconds = "total_seconds"
    }
}

/// What was analysed, and how: the parameters table of the report.
public struct AnalysisParameters: Sendable, Encodable {
    /// The analysed model's folder, as given.
    public let model: String
    /// The analysed model's folder name, for titles.
    public let modelName: String
    /// The precision the models ran in (docs/PRECISION.md).
    public let precision: Precision
    /// Transformer layers of the model.
    public let layers: Int
    /// Attention heads per layer.
    public let heads: Int
    /// The folder of the second model of the cosine analysis; nil when there is none.
    public let compare: String?
    /// The folder name of the second model; nil when there is none.
    public let compareName: String?
    /// The GLUE task's name (for example "SST-2"); nil when only relations were analysed.
    public let task: String?
    /// The split's name (for example `dev` or `dev_mismatched`); nil when only relations were analysed.
    public let split: String?
    /// The task's data file; nil when only relations were analysed.
    public let dataFile: String?
    /// Examples analysed (after sampling); 0 when only relations were analysed.
    public let examples: Int
    /// Whether the task's examples are sentence pairs; nil when only relations were analysed.
    public let pairs: Bool?
    /// How the examples were sub-sampled; nil when the whole file was used.
    public let sampling: GLUESampling?
    /// The truncation length used, in tokens, specials included.
    public let maxLength: Int
    /// Examples longer than ``maxLength`` and therefore truncated.
    public let truncated: Int
    /// The analyses run, by their names, in report order.
    public let analyses: [String]
    /// The cosine variants run ("cropped", "padded"); empty without a second model.
    public let cosineVariants: [String]
    /// The length of the padded cosine variant; nil when that variant did not run.
    public let paddedLength: Int?
    /// The thresholds of the pattern classifier; nil when the patterns analysis did not run.
    public let patternThresholds: PatternThresholds?
    /// The relation file probed; nil when the relations analysis did not run.
    public let relationsFile: String?
    /// Most tokens (padding included) per batch.
    public let tokenBudget: Int
    /// Most sequences per batch.
    public let maxBatchSize: Int

    enum CodingKeys: String, CodingKey {
        case model, modelName = "model_name", precision, layers, heads, compare, compareName = "compare_name", task, split
        case dataFile = "data_file", examples, pairs, sampling, maxLength = "max_length", truncated, analyses
        case cosineVariants = "cosine_variants", paddedLength = "padded_length", patternThresholds = "pattern_thresholds"
        case relationsFile = "relations_file", tokenBudget = "token_budget", maxBatchSize = "max_batch_size"
    }
}

/// Every result of one analysis run.
public struct AnalysisResults: Sendable, Encodable {
    /// What was analysed, and how.
    public let parameters: AnalysisParameters
    /// Attention to `[CLS]`, `[SEP]` and punctuation per head; nil when that analysis did not run.
    public let specialTokens: SpecialTokenResult?
    /// Attention entropy per head; nil when that analysis did not run.
    public let entropy: EntropyResult?
    /// Pattern-type shares per head and sample maps; nil when that analysis did not run.
    public let patterns: PatternTypeResult?
    /// One per cosine variant run.
    public let cosine: [CosineResult]
    /// How well each head's attention finds the related word; nil when that analysis did not run.
    public let relations: RelationProbeResult?
    /// Where the time of the run went. Not part of the encoded results, so that the same command
    /// gives byte-identical JSON; the report writes it to `timing.json` and `index.html`.
    public let timing: AnalysisTiming

    enum CodingKeys: String, CodingKey {
        case parameters, specialTokens = "special_tokens", entropy, patterns, cosine, relations
    }
}
