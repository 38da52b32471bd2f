import BertologyEngine
import Foundation

/// `reproduce.json`: every number of a reproduction (Table 1, §4.1-4.6 per task) and each of the
/// paper's claims with the number measured on this model. Built from the stages' files only, so it
/// is the same for a run interrupted and resumed, or run stage by stage on a scheduler.
public struct ReproductionReport: Codable, Sendable, Equatable {
    /// Dev scores of one model (one seed).
    public struct SeedScores: Codable, Sendable, Equatable {
        public let seed: UInt64
        public let dev: [String: Double]
    }

    /// Attention to special tokens, summarised.
    public struct SpecialTokens: Codable, Sendable, Equatable {
        /// Per layer (1-based order), the mean over heads of the attention [CLS] receives.
        public let clsPerLayer: [Double]
        /// Per layer, the mean over heads of the attention [SEP] receives (paper: max over [SEP] tokens).
        public let sepPerLayer: [Double]
        /// Last layer, [CLS] query row, mean over heads of its weight on `cls`, `sep`, `punctuation`.
        public let lastLayerCLSRow: [String: Double]

        enum CodingKeys: String, CodingKey {
            case clsPerLayer = "cls_per_layer", sepPerLayer = "sep_per_layer", lastLayerCLSRow = "last_layer_cls_row"
        }
    }

    /// The head and layer sweep of the fine-tuned model, summarised.
    public struct Ablation: Codable, Sendable, Equatable {
        public let metric: String
        public let baseline: Double
        /// `[layer][head]`, 0-based: the score with that head switched off.
        public let heads: [[Double]]
        /// Per layer: the score with the whole layer switched off.
        public let layers: [Double]
        public let headsImproving: Int
        public let headsHurting: Int
        public let meanHeadScore: Double
        /// The head whose removal gives the highest score, in the paper's naming (L5-H3), and its change.
        public let bestHead: String
        public let bestHeadChange: Double
        /// The five heads whose removal hurts most, worst first.
        public let worstHeads: [String]
        public let layersImproving: Int
        public let bestLayer: String
        public let bestLayerChange: Double

        enum CodingKeys: String, CodingKey {
            case metric, baseline, heads, layers
            case headsImproving = "heads_improving", headsHurting = "heads_hurting", meanHeadScore = "mean_head_score"
            case bestHead = "best_head", bestHeadChange = "best_head_change", worstHeads = "worst_heads"
            case layersImproving = "layers_improving", bestLayer = "best_layer", bestLayerChange = "best_layer_change"
        }
    }

    /// Everything measured on one task.
    public struct TaskResult: Codable, Sendable, Equatable {
        public let task: String
        /// The metric Table 1 and the sweep show (f1, pearson, accuracy, ...).
        public let headlineMetric: String
        /// False for a task with a dev split only (the pre-trained model's analyses only).
        public let fineTuned: Bool
        public let pretrainedFineTuned: [SeedScores]?
        public let randomFineTuned: [SeedScores]?
        public let untrained: [SeedScores]?
        public let untrainedRange: [String: FineTuningRange]?
        /// Share of (example, head) maps per pattern type, percent.
        public let patternsPretrained: [String: Double]?
        public let patternsFineTuned: [String: Double]?
        /// `[layer][head]` cosine of the pre-trained and the fine-tuned maps (cropped to the real tokens).
        public let cosine: [[Double]]?
        public let cosinePerLayer: [Double]?
        /// The two layers whose mean cosine is lowest (1-based), lowest first.
        public let layersChangingMost: [Int]?
        public let specialTokensPretrained: SpecialTokens?
        public let specialTokensFineTuned: SpecialTokens?
        /// With a relation file (§4.2): the five heads of the pre-trained model that attend most from a
        /// word to its related word, best first, with their scores.
        public let relationHeads: [HeadScore]?
        public let ablation: Ablation?

        enum CodingKeys: String, CodingKey {
            case task, ablation, cosine
            case relationHeads = "relation_heads"
            case headlineMetric = "headline_metric", fineTuned = "fine_tuned"
            case pretrainedFineTuned = "pretrained_fine_tuned", randomFineTuned = "random_fine_tuned"
            case untrained, untrainedRange = "untrained_range"
            case patternsPretrained = "patterns_pretrained", patternsFineTuned = "patterns_fine_tuned"
            case cosinePerLayer = "cosine_per_layer", layersChangingMost = "layers_changing_most"
            case specialTokensPretrained = "special_tokens_pretrained", specialTokensFineTuned = "special_tokens_fine_tuned"
        }
    }

    /// A head (1-based, as the paper names it: L7-H6) and its score.
    public struct HeadScore: Codable, Sendable, Equatable {
        public let head: String
        public let score: Double
    }

    /// One of the paper's claims, checked on this model.
    public struct Claim: Codable, Sendable, Equatable {
        /// The paper's section.
        public let section: String
        public let claim: String
        /// The task, or `all`.
        public let task: String
        /// What the paper reports.
        public let paper: String
        /// What this run measured.
        public let ours: String
        /// `yes`, `no`, or `n/a` (not measurable here).
        public let holds: String

        /// The claim as one line.
        public var line: String { "\(section) \(claim) [\(task)]: paper \(paper); ours \(ours); holds: \(holds)" }
    }

    public var format = "bertology-reproduce/1"
    public let model: String
    public let modelFiles: [String: String]
    public let bertology: String
    /// The run's identity (options, model files).
    public let run: [String: String]
    public let tasks: [TaskResult]
    public let missing: [ReproductionMissingTask]
    /// Mean over fine-tuned tasks of (pre-trained + fine-tuned) minus (no fine-tuning, mean over seeds), x100, headline metric.
    public let meanFineTuningGain: Double?
    public let claims: [Claim]
    /// The files the run let go once no stage needed them (`run.keep`; relative to the run's folder,
    /// a trailing `/` for a folder): the fine-tuning checkpoints, and with `keep` `none` the fine-tuned models.
    public let dropped: [String]

    enum CodingKeys: String, CodingKey {
        case format, model, bertology, run, tasks, missing, claims, dropped
        case modelFiles = "model_files", meanFineTuningGain = "mean_fine_tuning_gain"
    }
}

// MARK: - Reading the stages' files

extension ReproductionReport {
    static func read(plan: ReproductionPlan, options: ReproductionOptions, identity: [String: String],
                     checkpoint: Checkpoint, folder: URL) throws -> ReproductionReport {
        var tasks: [TaskResult] = []
        for task in plan.tasks + plan.devOnly {
            func file(_ kind: ReproductionStage.Kind, _ name: String) -> URL {
                folder.appendingPathComponent(ReproductionStage.id(kind, task)).appendingPathComponent(name)
            }
            let fineTuned = plan.tasks.contains(task)
            func trainReport(_ kind: ReproductionStage.Kind, seed: UInt64? = nil) throws -> FineTuningReport {
                let stage = folder.appendingPathComponent(ReproductionStage.id(kind, task, seed: seed))
                return try JSONOutput.read(FineTuningReport.self, from: stage.appendingPathComponent("train.json"), what: "a fine-tuning's train.json")
            }
            var pretrained: [SeedScores]?, random: [SeedScores]?, untrained: [SeedScores]?
            var range: [String: FineTuningRange]?
            var cosine: [[Double]]?, perLayer: [Double]?, changing: [Int]?
            var patternsFT: [String: Double]?, specialFT: SpecialTokens?, ablation: Ablation?
            if fineTuned {
                pretrained = try options.seeds.map { SeedScores(seed: $0, dev: try trainReport(.finetunePretrained, seed: $0).dev) }
                random = try options.seeds.map { SeedScores(seed: $0, dev: try trainReport(.finetuneRandom, seed: $0).dev) }
                let untrainedReport = try trainReport(.untrained)
                untrained = untrainedReport.untrained?.map { SeedScores(seed: $0.seed, dev: $0.dev) }
                range = untrainedReport.untrainedRange
                let grid = try Self.grid(file(.compare, "cosine.json"), "cropped")
                cosine = grid
                perLayer = grid.map(Self.mean)
                changing = Array(perLayer!.indices.sorted { perLayer![$0] < perLayer![$1] }.prefix(2).map { $0 + 1 })
                patternsFT = try Self.distribution(file(.analyzeFinetuned, "patterns.json"))
                specialFT = try Self.special(file(.analyzeFinetuned, "special-tokens.json"))
                ablation = try Self.ablation(file(.ablate, AblationJournal.fileName))
            }
            tasks.append(TaskResult(
                task: task.name, headlineMetric: task.headlineMetric.rawValue, fineTuned: fineTuned,
                pretrainedFineTuned: pretrained, randomFineTuned: random, untrained: untrained, untrainedRange: range,
                patternsPretrained: try Self.distribution(file(.analyzePretrained, "patterns.json")),
                patternsFineTuned: patternsFT, cosine: cosine, cosinePerLayer: perLayer, layersChangingMost: changing,
                specialTokensPretrained: try Self.special(file(.analyzePretrained, "special-tokens.json")),
                specialTokensFineTuned: specialFT,
                relationHeads: options.relations == nil ? nil : try Self.topHeads(file(.analyzePretrained, "relations.json"), "score"),
                ablation: ablation))
        }
        var hashes = FileHashes()
        let files = Dictionary(uniqueKeysWithValues: try hashes.model(checkpoint.folder))
        let gains = tasks.compactMap(Self.fineTuningGain)
        let meanGain = gains.isEmpty ? nil : gains.reduce(0, +) / Double(gains.count)
        return ReproductionReport(model: checkpoint.name, modelFiles: files, bertology: BertologyVersion.current, run: identity,
                                  tasks: tasks, missing: plan.missing, meanFineTuningGain: meanGain,
                                  claims: ReproductionClaims.check(tasks, meanGain: meanGain),
                                  dropped: Reproduction.dropped(plan: plan, keep: options.keep))
    }

    /// (pre-trained + fine-tuned, first seed) minus (untrained, mean over seeds), headline metric, x100.
    static func fineTuningGain(_ result: TaskResult) -> Double? {
        let metric = result.headlineMetric
        guard let tuned = result.pretrainedFineTuned?.first?.dev[metric], let base = result.untrainedRange?[metric]?.mean else { return nil }
        return 100 * (tuned - base)
    }

    static func mean(_ values: [Double]) -> Double {
        let finite = values.filter(\.isFinite)
        return finite.isEmpty ? .nan : finite.reduce(0, +) / Double(finite.count)
    }

    /// An analysis file of a stage, read back as the analysis wrote it.
    static func analysis<Extra: Decodable>(_ url: URL, _ extra: Extra.Type) throws -> AnalysisFileContents<Extra> {
        try JSONOutput.read(AnalysisFileContents<Extra>.self, from: url, what: "an analysis file")
    }

    static func grid(_ url: URL, _ name: String) throws -> [[Double]] {
        try analysis(url, AnalysisNoExtra.self).grid(name, in: url).rows
    }

    /// The five highest cells of a grid, best first (ties in layer, head order).
    static func topHeads(_ url: URL, _ name: String) throws -> [HeadScore] {
        let rows = try grid(url, name)
        let cells = rows.enumerated().flatMap { layer, row in
            row.enumerated().map { HeadScore(head: HeadID(layer: layer, head: $0.offset).description, score: $0.element) }
        }.filter(\.score.isFinite)
        return Array(cells.enumerated().sorted { ($0.element.score, -$0.offset) > ($1.element.score, -$1.offset) }.prefix(5).map(\.element))
    }

    static func distribution(_ url: URL) throws -> [String: Double] {
        try analysis(url, PatternsExtra.self).extra.distribution
    }

    static func special(_ url: URL) throws -> SpecialTokens {
        let file = try analysis(url, SpecialTokensExtra.self)
        let cls = try file.grid("cls", in: url).rows, sep = try file.grid("sep-paper", in: url).rows
        return SpecialTokens(clsPerLayer: cls.map(mean), sepPerLayer: sep.map(mean),
                             lastLayerCLSRow: file.extra.last_layer_cls_row.mapValues(mean))
    }

    static func ablation(_ journal: URL) throws -> Ablation {
        let results = try AblationResults.load(journal: journal)
        let metric = results.primaryMetric
        let baseline = results.baseline?.metrics[metric] ?? .nan
        let grid = results.headGrid(metric)
        let ranked = results.rankedHeads(metric)
        let finite = ranked.map(\.score).filter(\.isFinite)
        let layers = results.layerScores(metric)
        let bestLayer = layers.indices.filter { layers[$0].isFinite }.max { layers[$0] < layers[$1] }
        return Ablation(metric: metric, baseline: baseline, heads: grid.rows, layers: layers,
                        headsImproving: finite.filter { $0 > baseline }.count, headsHurting: finite.filter { $0 < baseline }.count,
                        meanHeadScore: mean(finite), bestHead: ranked.first?.head.description ?? "",
                        bestHeadChange: (ranked.first?.score ?? .nan) - baseline,
                        worstHeads: ranked.reversed().prefix(5).map(\.head.description),
                        layersImproving: layers.filter { $0.isFinite && $0 > baseline }.count,
                        bestLayer: bestLayer.map { "L\($0 + 1)" } ?? "", bestLayerChange: bestLayer.map { layers[$0] - baseline } ?? .nan)
    }
}

// MARK: - The paper's numbers and claims

/// The paper's numbers the report sets beside ours (Kovaleva et al. 2019, bert-base-uncased).
enum PaperNumbers {
    /// Table 1, x100: (pre-trained without fine-tuning, random init + fine-tuned, pre-trained + fine-tuned, metric).
    static let table1: [GLUETask: (untrained: String, random: String, pretrained: String, metric: String)] = [
        .mrpc: ("0 / 31.6", "81.2 / 68.3", "87.9 / 82.3", "F1 / acc"),
        .stsb: ("33.1", "2.9", "82.7", "correlation"),
        .sst2: ("49.1", "80.5", "92.0", "acc"),
        .qqp: ("0 / 60.9", "0 / 63.2", "65.2 / 78.6", "F1 / acc"),
        .rte: ("52.7", "52.7", "64.6", "acc"),
        .qnli: ("52.8", "49.5", "84.4", "acc"),
        .mnli: ("31.7", "61.0", "78.6", "acc"),
    ]
    /// Fig 2 (read from the figure), percent: heterogeneous, vertical.
    static let patterns: [GLUETask: (heterogeneous: Double, vertical: Double)] = [
        .mrpc: (28, 42), .stsb: (53, 29), .sst2: (41, 36), .qqp: (58, 25), .rte: (35, 41), .qnli: (35, 34), .mnli: (58, 22),
    ]
    /// Tasks whose last-layer [CLS] row puts most weight on punctuation (§4.5); [SEP] for the others.
    static let punctuationTasks: Set<GLUETask> = [.stsb, .rte, .qnli]
    /// Fig 8's best single-head gain read from the figure, x100.
    static let bestHeadGain: [GLUETask: String] = [.mrpc: "+1.2", .stsb: "+0.1"]
}

/// Each of the paper's claims as one line with our number and whether it holds.
enum ReproductionClaims {
    static func percent(_ value: Double) -> String { XMLText.format(value, digits: 1) + "%" }
    static func value(_ value: Double, _ digits: Int = 3) -> String { XMLText.format(value, digits: digits) }
    static func signed(_ number: Double, _ digits: Int = 4) -> String { number.isFinite ? (number >= 0 ? "+" : "") + value(number, digits) : "n/a" }
    static func yes(_ condition: Bool?) -> String { condition.map { $0 ? "yes" : "no" } ?? "n/a" }

    static func check(_ tasks: [ReproductionReport.TaskResult], meanGain: Double?) -> [ReproductionReport.Claim] {
        typealias Claim = ReproductionReport.Claim
        var claims: [Claim] = []
        for result in tasks {
            let name = result.task
            let task = GLUETask(rawValue: name)
            // §4.1: patterns (the paper classifies the fine-tuned model's maps).
            if let patterns = result.patternsFineTuned ?? result.patternsPretrained {
                let which = result.patternsFineTuned != nil ? "fine-tuned" : "pre-trained"
                let vertical = patterns["vertical"] ?? .nan, heterogeneous = patterns["heterogeneous"] ?? .nan
                let paper = task.flatMap { PaperNumbers.patterns[$0] }
                claims.append(Claim(section: "§4.1", claim: "at least a third of the maps are vertical (attention to [CLS]/[SEP])", task: name,
                                    paper: paper.map { "vertical \(percent($0.vertical)) (Fig 2)" } ?? "at least a third",
                                    ours: "vertical \(percent(vertical)) (\(which))", holds: yes(vertical.isFinite ? vertical >= 100.0 / 3 : nil)))
                claims.append(Claim(section: "§4.1", claim: "heterogeneous (potentially linguistic) maps are 32-61% of all", task: name,
                                    paper: paper.map { "heterogeneous \(percent($0.heterogeneous)) (Fig 2); 32-61% in the text" } ?? "32-61%",
                                    ours: "heterogeneous \(percent(heterogeneous)) (\(which))",
                                    holds: yes(heterogeneous.isFinite ? (32...61).contains(heterogeneous) : nil)))
            }
            // §4.2: relation heads.
            if let heads = result.relationHeads, let best = heads.first {
                claims.append(Claim(section: "§4.2", claim: "single heads attend from a word to its related word (FrameNet: L7-H6 .209, L1-H2 .201)", task: name,
                                    paper: "L7-H6 0.209, L1-H2 0.201 (473 FrameNet sentences)",
                                    ours: "best \(best.head) \(value(best.score)); next " + heads.dropFirst().map { "\($0.head) \(value($0.score))" }.joined(separator: ", ") + " (pre-trained, the relation file given)",
                                    holds: "n/a"))
            }
            // §4.3: which layers change.
            if let perLayer = result.cosinePerLayer, let changing = result.layersChangingMost, perLayer.count >= 2 {
                let last = [perLayer.count, perLayer.count - 1]
                let described = perLayer.enumerated().map { "L\($0.offset + 1) \(value($0.element, 2))" }.joined(separator: ", ")
                claims.append(Claim(section: "§4.3", claim: "the last two layers change most in fine-tuning (lowest mean cosine)", task: name,
                                    paper: name == "QQP" ? "all tasks but QQP" : "yes (Fig 5: L11-12 about 0.4-0.7)",
                                    ours: "lowest: \(changing.map { "L\($0)" }.joined(separator: ", ")); \(described)",
                                    holds: yes(perLayer.count > 2 ? Set(changing) == Set(last) : nil)))
                claims.append(Claim(section: "§4.3", claim: "the first layer barely changes (mean cosine 0.97-0.99)", task: name,
                                    paper: "0.97-0.99 (Fig 5)", ours: "L1 \(value(perLayer[0]))", holds: yes(perLayer[0] >= 0.95)))
            }
            // §4.4-4.5: special tokens.
            if let special = result.specialTokensPretrained, special.clsPerLayer.count >= 2 {
                let half = special.clsPerLayer.count / 2
                let early = { (values: [Double]) in ReproductionReport.mean(Array(values.prefix(half))) }
                let late = { (values: [Double]) in ReproductionReport.mean(Array(values.suffix(values.count - half))) }
                let (clsEarly, clsLate) = (early(special.clsPerLayer), late(special.clsPerLayer))
                let (sepEarly, sepLate) = (early(special.sepPerLayer), late(special.sepPerLayer))
                claims.append(Claim(section: "§4.4", claim: "earlier layers attend to [CLS], later layers to [SEP]", task: name,
                                    paper: "yes, across tasks (Fig 6)",
                                    ours: "[CLS] \(value(clsEarly)) early vs \(value(clsLate)) late; [SEP] \(value(sepEarly)) early vs \(value(sepLate)) late (pre-trained, mean attention received)",
                                    holds: yes(clsEarly > clsLate && sepLate > sepEarly)))
            }
            if let special = result.specialTokensFineTuned ?? result.specialTokensPretrained, let task {
                let row = special.lastLayerCLSRow
                let top = ["cls", "sep", "punctuation"].max { (row[$0] ?? -1) < (row[$1] ?? -1) } ?? ""
                let expected = PaperNumbers.punctuationTasks.contains(task) ? "punctuation" : "sep"
                let names = ["cls": "[CLS]", "sep": "[SEP]", "punctuation": "punctuation"]
                claims.append(Claim(section: "§4.5", claim: "in the last layer's [CLS] row, [SEP] gets the most weight (punctuation for STS-B, RTE, QNLI)", task: name,
                                    paper: names[expected]!,
                                    ours: "\(names[top] ?? top) (\(["cls", "sep", "punctuation"].map { "\(names[$0]!) \(value(row[$0] ?? .nan))" }.joined(separator: ", ")); \(result.specialTokensFineTuned != nil ? "fine-tuned" : "pre-trained"))",
                                    holds: yes(top == expected)))
            }
            // Table 1.
            let metric = result.headlineMetric
            if let tuned = result.pretrainedFineTuned?.first?.dev[metric], let random = result.randomFineTuned?.first?.dev[metric] {
                let paper = task.flatMap { PaperNumbers.table1[$0] }
                claims.append(Claim(section: "Table 1", claim: "pre-trained + fine-tuned beats random init + fine-tuned", task: name,
                                    paper: paper.map { "\($0.pretrained) vs \($0.random)" } ?? "yes",
                                    ours: "\(value(100 * tuned, 1)) vs \(value(100 * random, 1)) (\(metric))", holds: yes(tuned > random)))
            }
            if let gain = ReproductionReport.fineTuningGain(result) {
                let paper = task.flatMap { PaperNumbers.table1[$0] }
                claims.append(Claim(section: "Table 1", claim: "fine-tuning improves on the pre-trained model without fine-tuning", task: name,
                                    paper: paper.map { "\($0.pretrained) vs \($0.untrained)" } ?? "yes",
                                    ours: "\(signed(gain, 1)) points (\(metric))", holds: yes(gain > 0)))
            }
            // §4.6.
            if let ablation = result.ablation {
                claims.append(Claim(section: "§4.6", claim: "disabling some single heads improves the score", task: name,
                                    paper: task.flatMap { PaperNumbers.bestHeadGain[$0] }.map { "yes, best \($0)" } ?? "yes, +0.1 to +1.2 across tasks",
                                    ours: "\(ablation.headsImproving) heads improve it; best \(ablation.bestHead) \(signed(100 * ablation.bestHeadChange, 2)) points (\(ablation.metric))",
                                    holds: yes(ablation.headsImproving > 0)))
                if name == "MRPC" || name == "RTE" {
                    let change = ablation.meanHeadScore - ablation.baseline
                    claims.append(Claim(section: "§4.6", claim: "disabling a random head improves the score on average", task: name,
                                        paper: name == "MRPC" ? "yes (mean .884 vs .882)" : "yes (mean .586 vs .585)",
                                        ours: "mean over heads \(value(ablation.meanHeadScore, 4)) vs baseline \(value(ablation.baseline, 4)) (\(signed(100 * change, 2)) points)",
                                        holds: yes(change > 0)))
                }
                if name == "STS-B" || name == "RTE" {
                    let worst = Array(ablation.worstHeads.prefix(5))
                    claims.append(Claim(section: "§4.6", claim: "the model depends most on L4-H1 and L2-H12 (disabling them hurts most)", task: name,
                                        paper: "L4-H1, L2-H12 lowest (Fig 8)", ours: "five most harmful: \(worst.joined(separator: ", "))",
                                        holds: yes(worst.contains("L4-H1") || worst.contains("L2-H12"))))
                }
                claims.append(Claim(section: "§4.6", claim: "disabling a whole layer can improve the score", task: name,
                                    paper: name == "RTE" ? "yes, layer 1 +3.2" : (name == "QNLI" || name == "MNLI" ? "no, down to -0.2" : "up to +3.2 (RTE)"),
                                    ours: "\(ablation.layersImproving) layers improve it; best \(ablation.bestLayer) \(signed(100 * ablation.bestLayerChange, 2)) points",
                                    holds: yes(ablation.layersImproving > 0)))
            }
        }
        if let meanGain {
            claims.append(Claim(section: "Table 1", claim: "fine-tuning adds 35.9 points on average over the tasks", task: "all",
                                paper: "+35.9", ours: "\(signed(meanGain, 1)) points (headline metrics, \(tasks.filter(\.fineTuned).count) task(s))",
                                holds: yes(meanGain > 0)))
        }
        return claims
    }
}
