import BertologyEngine
import Foundation

/// The score of one ablation: its metrics and its per-example predictions.
public struct AblationOutcome: Sendable, Equatable {
    public let ablation: Ablation
    /// By `GLUEMetric` name.
    public let metrics: [String: Double]
    /// Per example, in file order: the score (STS-B) or the predicted class index.
    public let predictions: [Double]
    /// Wall time of its layer group divided by the group's ablations (not part of the reports).
    public let seconds: Double
}

/// The outcomes of a sweep, or of some parts (shards) of it, with the fingerprint they share.
public struct AblationResults: Sendable {
    public let fingerprint: AblationFingerprint
    public let plan: AblationPlan
    /// The parts these results come from (`1/1` for a whole run).
    public let shards: [AblationShard]
    /// By ablation; the plan's ablations that have run.
    public let outcomes: [Ablation: AblationOutcome]
    /// The journals they were read from.
    public let journals: [URL]

    public init(fingerprint: AblationFingerprint, plan: AblationPlan, shards: [AblationShard],
                outcomes: [Ablation: AblationOutcome], journals: [URL]) {
        self.fingerprint = fingerprint
        self.plan = plan
        self.shards = shards
        self.outcomes = outcomes
        self.journals = journals
    }

    public var task: GLUETask { GLUETask(rawValue: fingerprint.data.task) ?? .stsb }
    /// The task's metrics, in its order (`GLUETask.metrics`).
    public var metricNames: [String] { task.metrics.map(\.rawValue) }
    /// The metric the figures plot: the task's headline metric (Pearson for STS-B, the paper's
    /// Fig 8/9 value range suggests it; F1 for MRPC and QQP; accuracy or MCC otherwise).
    public var primaryMetric: String { task.headlineMetric.rawValue }

    /// Whether every ablation of the plan has an outcome.
    public var isComplete: Bool { plan.ablations.allSatisfy { outcomes[$0] != nil } }
    public var missing: [Ablation] { plan.ablations.filter { outcomes[$0] == nil } }

    public var baseline: AblationOutcome? { outcomes[.baseline] }

    /// The outcomes in plan order.
    public var ordered: [AblationOutcome] { plan.ablations.compactMap { outcomes[$0] } }

    public func score(_ ablation: Ablation, _ metric: String) -> Double? { outcomes[ablation]?.metrics[metric] }

    /// Score minus the baseline's score.
    public func delta(_ ablation: Ablation, _ metric: String) -> Double? {
        guard let value = score(ablation, metric), let base = score(.baseline, metric) else { return nil }
        return value - base
    }

    /// (layers x heads) scores of the single-head ablations; NaN for heads not ablated.
    public func headGrid(_ metric: String, delta: Bool = false) -> HeadGrid {
        var grid = HeadGrid(layerCount: plan.layerCount, headCount: plan.headCount, repeating: .nan)
        for head in plan.heads {
            grid[head] = (delta ? self.delta(.head(head), metric) : score(.head(head), metric)) ?? .nan
        }
        return grid
    }

    /// (layers) scores of the whole-layer ablations; NaN for layers not ablated.
    public func layerScores(_ metric: String, delta: Bool = false) -> [Double] {
        (0..<plan.layerCount).map { layer in
            guard plan.layers.contains(layer) else { return .nan }
            return (delta ? self.delta(.layer(layer), metric) : score(.layer(layer), metric)) ?? .nan
        }
    }

    /// Single-head ablations from the highest score to the lowest (ties in plan order); heads
    /// whose metric is undefined (NaN) are left out.
    public func rankedHeads(_ metric: String) -> [(head: HeadID, score: Double)] {
        plan.heads.compactMap { head in score(.head(head), metric).flatMap { $0.isNaN ? nil : (head, $0) } }
            .enumerated()
            .sorted { a, b in a.element.1 != b.element.1 ? a.element.1 > b.element.1 : a.offset < b.offset }
            .map(\.element)
    }

    // MARK: - Reading journals

    /// The results of one journal (a whole run or one part).
    public static func load(journal url: URL) throws -> AblationResults {
        try results(from: [try AblationJournal.read(url)], requireComplete: false)
    }

    /// Merges the journals of the parts of one sweep: the same fingerprint, parts 1..N of the same
    /// N each exactly once, each part complete, identical baselines. The result is what a single
    /// run gives (its reports are byte-identical).
    public static func merge(journals urls: [URL]) throws -> AblationResults {
        guard !urls.isEmpty else { throw BertologyError.usage("merge needs at least one journal") }
        return try results(from: try urls.map { try AblationJournal.read($0) }, requireComplete: true)
    }

    static func results(from journals: [AblationJournal.Contents], requireComplete: Bool) throws -> AblationResults {
        let first = journals[0]
        let fingerprint = first.header.fingerprint
        for journal in journals.dropFirst() {
            let differences = journal.header.fingerprint.differences(from: fingerprint)
            guard differences.isEmpty else {
                throw BertologyError.badInput(journal.url.path, "comes from another sweep than \(first.url.path): " + differences.joined(separator: "; "))
            }
        }
        guard let mode = HeadIntervention(rawValue: fingerprint.mode), mode != .keep else {
            throw BertologyError.badInput(first.url.path, at: "line 1", "unknown mode \(fingerprint.mode)")
        }
        let (layerCount, headCount) = (fingerprint.model.layers, fingerprint.model.heads)
        let plan: AblationPlan
        do {
            plan = try AblationPlan(mode: mode, heads: .init(parsing: fingerprint.heads, layerCount: layerCount, headCount: headCount),
                                    layers: .init(parsing: fingerprint.layers, layerCount: layerCount, headCount: headCount),
                                    layerCount: layerCount, headCount: headCount)
        } catch let error as BertologyError {
            throw BertologyError.badInput(first.url.path, at: "line 1", "the fingerprint's ablation list: \(error.reason)")
        }
        if requireComplete {
            let count = first.header.shard.count
            var seen: [Int: URL] = [:]
            for journal in journals {
                let shard = journal.header.shard
                guard shard.count == count else {
                    throw BertologyError.badInput(journal.url.path, "is part \(shard) but \(first.url.path) is part \(first.header.shard): the parts of one sweep share N")
                }
                if let other = seen[shard.index] {
                    throw BertologyError.usage("part \(shard) is given twice: \(other.path) and \(journal.url.path)")
                }
                seen[shard.index] = journal.url
            }
            let absent = (1...count).filter { seen[$0] == nil }
            guard absent.isEmpty else {
                throw BertologyError.usage("parts \(absent.map { "\($0)/\(count)" }.joined(separator: ", ")) are missing: merge needs every part of the sweep")
            }
        }
        var outcomes: [Ablation: AblationOutcome] = [:]
        var owner: [Ablation: URL] = [:]
        for journal in journals {
            let expected = plan.ablations(in: journal.header.shard).map(\.description)
            guard journal.header.ablations == expected else {
                throw BertologyError.badInput(journal.url.path, at: "line 1", "its ablation list is not part \(journal.header.shard) of the plan")
            }
            for record in journal.records {
                let ablation = try Ablation(parsing: record.ablation, layerCount: layerCount, headCount: headCount)
                let outcome = AblationOutcome(ablation: ablation, metrics: record.metrics, predictions: record.predictions,
                                              seconds: record.seconds)
                if let existing = outcomes[ablation] {
                    // Every part runs the baseline: they must agree to the bit.
                    guard ablation == .baseline else {
                        throw BertologyError.badInput(journal.url.path, "ablation \(ablation) is also in \(owner[ablation]!.path)")
                    }
                    guard existing.metrics == outcome.metrics && existing.predictions == outcome.predictions else {
                        throw BertologyError.badInput(journal.url.path, "its baseline differs from the one in \(owner[ablation]!.path) (metrics \(outcome.metrics) vs \(existing.metrics)): the parts did not compute the same numbers")
                    }
                    continue
                }
                outcomes[ablation] = outcome
                owner[ablation] = journal.url
            }
            if requireComplete {
                let done = Set(journal.records.map(\.ablation))
                let unfinished = expected.filter { !done.contains($0) }
                guard unfinished.isEmpty else {
                    throw BertologyError.usage("\(journal.url.path): part \(journal.header.shard) is unfinished (\(unfinished.count) of \(expected.count) ablations missing, first \(unfinished[0])); run it again with `resume`")
                }
            }
        }
        return AblationResults(fingerprint: fingerprint, plan: plan, shards: journals.map(\.header.shard).sorted { $0.index < $1.index },
                               outcomes: outcomes, journals: journals.map(\.url))
    }
}
