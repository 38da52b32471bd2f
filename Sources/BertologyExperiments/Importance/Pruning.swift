import BertologyEngine
import Foundation

/// An order in which heads are pruned (Michel et al. 2019, §4 and their Fig 3, with the paper's ablation beside).
public enum PruningOrder: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Gradient importance recomputed on the pruned model after every step (Michel et al.'s iterative pruning).
    case importance
    /// Gradient importance of the whole model, computed once.
    case oneShot = "one-shot"
    /// The score drop of switching each head off alone (an ablation sweep in zero mode), smallest drop first.
    case ablation
    /// A seeded random order (several seeds: mean and range).
    case random

    public var description: String { rawValue }
}

/// Choices of a pruning run.
public struct PruningOptions: Sendable {
    /// The share of the remaining heads removed at each step (at least one head).
    public var step: Double = 0.1
    /// Stop an order once its score falls below this fraction of the baseline's (nil: prune until one head per layer).
    public var until: Double?
    /// The orders to run.
    public var orders: [PruningOrder] = PruningOrder.allCases
    /// Seeds of the random order: 1...randomSeeds.
    public var randomSeeds: Int = 5
    /// Truncation, batching, label names (the scorer is the classifier).
    public var evaluation: EvaluationOptions = EvaluationOptions()

    public init(step: Double = 0.1, until: Double? = nil, orders: [PruningOrder] = PruningOrder.allCases, randomSeeds: Int = 5,
                evaluation: EvaluationOptions = EvaluationOptions()) {
        self.step = step
        self.until = until
        self.orders = orders
        self.randomSeeds = randomSeeds
        self.evaluation = evaluation
    }

    /// - Throws: `BertologyError` `.usage` for a step outside (0, 1), a fraction outside (0, 1], no order, no seed.
    public func validate() throws {
        guard step > 0 && step < 1 else { throw BertologyError.usage("`step` \(step) is outside (0, 1): the share of the remaining heads each step removes, for example 0.1") }
        if let until, !(until > 0 && until <= 1) {
            throw BertologyError.usage("`until` \(until) is outside (0, 1]: stop once the score is below this fraction of the baseline's")
        }
        guard !orders.isEmpty else { throw BertologyError.usage("no pruning order chosen") }
        if orders.contains(.random) && !(1...100).contains(randomSeeds) {
            throw BertologyError.usage("`randomSeeds` \(randomSeeds) is outside 1...100")
        }
    }
}

/// One point of a pruning curve: the model with `removed` heads removed (zero mode: exactly removal), scored.
public struct PruningPoint: Sendable, Equatable, Codable {
    public let order: PruningOrder
    /// The random order's seed; nil for the others.
    public let seed: Int?
    /// 0 for the unpruned model.
    public let step: Int
    /// Every head removed so far (1-based names), in the order they were removed.
    public let removed: [String]
    /// The task's metrics.
    public let metrics: [String: Double]
}

/// Everything a pruning run found, as `pruning.json` holds it (read back as this type).
public struct PruningResult: Sendable, Equatable, Codable {
    public static let currentFormatVersion = 1
    public var formatVersion = PruningResult.currentFormatVersion
    public let model: String
    public let task: GLUETask
    public let split: GLUESplit
    public let examples: Int
    public let layers: Int
    public let heads: Int
    /// The metric the curves plot and `until` reads (the task's headline metric).
    public let metric: String
    public let step: Double
    public let until: Double?
    public let baseline: [String: Double]
    /// Every point of every order, in the order they were computed.
    public let points: [PruningPoint]
    /// Where the ablation order came from: an `ablate` run's file name, or "a zero-mode sweep of this run".
    public let ablationSource: String?

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", model, task, split, examples, layers, heads, metric, step, until, baseline, points
        case ablationSource = "ablation_source"
    }

    /// The points of one order (and seed), by step, starting with the unpruned model (step 0, shared by every order).
    public func curve(_ order: PruningOrder, seed: Int? = nil) -> [PruningPoint] {
        [PruningPoint(order: order, seed: seed, step: 0, removed: [], metrics: baseline)]
            + points.filter { $0.order == order && $0.seed == seed && $0.step > 0 }.sorted { $0.step < $1.step }
    }

    /// The random order's seeds.
    public var randomSeeds: [Int] { Array(Set(points.compactMap(\.seed))).sorted() }
}

/// Michel et al.'s pruning experiment over a dataset, for several orders, resumable from its journal.
///
/// Every step removes `step` of the remaining heads (at least one), never a layer's last head; each pruned model is
/// scored on the dataset with the removed heads' attention zeroed (exactly what removing them does). Importance
/// (``HeadImportance``) is computed on the same examples, as Michel et al. do.
/// One run belongs to one task at a time (it owns an inference session); `@unchecked Sendable` so that a command can
/// hand it to its cancellable task.
public final class PruningRun: @unchecked Sendable {
    public let checkpoint: Checkpoint
    public let dataset: GLUEDataset
    public let options: PruningOptions
    let prepared: PreparedEvaluation
    let session: InferenceSession
    /// The gate gradients of the model, made once for every importance computation of the run.
    private lazy var gates = Result { try HeadGateGradients(model: checkpoint.model) }
    let layers: Int, heads: Int

    /// Prepares the data (tokenized and batched once).
    /// - Throws: `BertologyError` `.usage` for bad options or a model without a classifier.
    public init(checkpoint: Checkpoint, dataset: GLUEDataset, options: PruningOptions) throws {
        try options.validate()
        guard checkpoint.model.hasClassifier else {
            throw BertologyError.usage("pruning scores the task with the model's classifier and computes its loss: \(checkpoint.name) has no classification head (a classifier fine-tuned on \(dataset.task): `bertology finetune` makes one)")
        }
        var evaluation = options.evaluation
        evaluation.scorer = .classifier
        self.checkpoint = checkpoint
        self.dataset = dataset
        self.options = options
        prepared = try PreparedEvaluation(checkpoint: checkpoint, dataset: dataset, options: evaluation)
        session = InferenceSession(model: checkpoint.model)
        layers = checkpoint.model.layerCount
        heads = checkpoint.model.headCount
    }

    var metric: String { dataset.task.headlineMetric.rawValue }

    /// Runs (or, with `journal` holding points, continues) every order; `ablation` gives the ablation order's drops
    /// (nil: a zero-mode sweep of single heads is run here). `record` is called with each new point (the journal).
    public func run(ablation: ImportanceAgainstAblation.AblationDrops?, done: [PruningPoint],
                    record: (PruningPoint) throws -> Void, progress: ProgressHandler? = nil) throws -> PruningResult {
        var points = done
        var known = Dictionary(done.map { ("\($0.order)/\($0.seed ?? 0)/\($0.step)", $0) }, uniquingKeysWith: { a, _ in a })
        func score(_ removed: [HeadID]) throws -> [String: Double] {
            let interventions = removed.isEmpty ? nil
                : HeadInterventions(HeadSelection(heads: removed), mode: .zero, layerCount: layers, headCount: heads)
            return try prepared.run(interventions: interventions, session: session).metrics
        }
        func add(_ order: PruningOrder, _ seed: Int?, _ step: Int, _ removed: [HeadID]) throws -> PruningPoint {
            let key = "\(order)/\(seed ?? 0)/\(step)"
            if let point = known[key] { return point }
            try checkCancelled()
            let point = PruningPoint(order: order, seed: seed, step: step, removed: removed.map(\.description),
                                     metrics: try score(removed))
            try record(point)
            known[key] = point
            points.append(point)
            progress?(Progress(phase: "pruning \(order)\(seed.map { " seed \($0)" } ?? "")", completed: removed.count,
                               total: layers * heads - layers))
            return point
        }
        let baseline = try add(.importance, nil, 0, []).metrics
        let threshold = options.until.map { $0 * (baseline[metric] ?? .nan) }
        func belowThreshold(_ point: PruningPoint) -> Bool {
            guard let threshold, let value = point.metrics[metric] else { return false }
            return value < threshold
        }

        // A fixed order: remove its heads in sequence, skipping a layer's last head, `step` of the remaining each time.
        func follow(_ order: PruningOrder, _ seed: Int?, _ sequence: [HeadID]) throws {
            var removed: [HeadID] = []
            var step = 0
            while true {
                let next = choose(from: sequence, removed: removed)
                if next.isEmpty { break }
                removed += next
                step += 1
                if belowThreshold(try add(order, seed, step, removed)) { break }
            }
        }

        for order in options.orders {
            switch order {
            case .importance:
                var removed: [HeadID] = []
                var step = 0
                while true {
                    // The state after a recorded step comes from the journal; importance is recomputed on it.
                    if let point = known["importance/0/\(step + 1)"] {
                        removed = point.removed.compactMap { try? HeadID(parsingName: $0) }
                        step += 1
                        if belowThreshold(point) { break }
                        continue
                    }
                    try checkCancelled()
                    let importance = try HeadImportance.compute(prepared, gates: gates.get(), removed: Set(removed))
                    let next = choose(from: importance.ranking.reversed(), removed: removed)
                    if next.isEmpty { break }
                    removed += next
                    step += 1
                    if belowThreshold(try add(.importance, nil, step, removed)) { break }
                }
            case .oneShot:
                let importance = try HeadImportance.compute(prepared, gates: gates.get(), removed: [])
                try follow(.oneShot, nil, importance.ranking.reversed())
            case .ablation:
                let drops: [[Double?]]
                if let ablation {
                    drops = ablation.drops
                } else {
                    var computed = [[Double?]](repeating: [Double?](repeating: nil, count: heads), count: layers)
                    for layer in 0..<layers {
                        for head in 0..<heads {
                            try checkCancelled()
                            let value = try score([HeadID(layer: layer, head: head)])[metric] ?? .nan
                            computed[layer][head] = (baseline[metric] ?? .nan) - value
                        }
                    }
                    drops = computed
                }
                let all = (0..<layers).flatMap { l in (0..<heads).map { HeadID(layer: l, head: $0) } }
                let sequence = all.sorted { a, b in
                    let (x, y) = (drops[a.layer][a.head] ?? .infinity, drops[b.layer][b.head] ?? .infinity)
                    return x != y ? x < y : a < b
                }
                try follow(.ablation, nil, sequence)
            case .random:
                for seed in 1...options.randomSeeds {
                    var generator = SeededGenerator(seed: UInt64(seed))
                    let all = (0..<layers).flatMap { l in (0..<heads).map { HeadID(layer: l, head: $0) } }
                    try follow(.random, seed, all.shuffled(using: &generator))
                }
            }
        }
        return PruningResult(model: checkpoint.name, task: dataset.task, split: dataset.split, examples: dataset.count,
                             layers: layers, heads: heads, metric: metric, step: options.step, until: options.until,
                             baseline: baseline, points: points,
                             ablationSource: options.orders.contains(.ablation) ? (ablation == nil ? "a zero-mode sweep of single heads in this run" : "ablation.json") : nil)
    }

    /// The next heads to remove: the first `k` of `sequence` not yet removed whose layer keeps another head,
    /// k = max(1, ⌊step × remaining⌋).
    func choose(from sequence: [HeadID], removed: [HeadID]) -> [HeadID] {
        let gone = Set(removed)
        var left = [Int](repeating: heads, count: layers)
        for head in removed { left[head.layer] -= 1 }
        let remaining = layers * heads - removed.count
        let k = max(1, Int((options.step * Double(remaining)).rounded(.down)))
        var chosen: [HeadID] = []
        for head in sequence where !gone.contains(head) && left[head.layer] > 1 {
            chosen.append(head)
            left[head.layer] -= 1
            if chosen.count == k { break }
        }
        return chosen
    }

    private func checkCancelled() throws {
        if Task.isCancelled { throw BertologyError(.cancelled, "pruning of \(checkpoint.name) on \(dataset.task) cancelled") }
    }
}

extension HeadID {
    /// Parses a 1-based name, `L4-H1`.
    init(parsingName name: String) throws {
        let parts = name.split(separator: "-")
        guard parts.count == 2, parts[0].hasPrefix("L"), parts[1].hasPrefix("H"),
              let layer = Int(parts[0].dropFirst()), let head = Int(parts[1].dropFirst()), layer >= 1, head >= 1 else {
            throw BertologyError.usage("\"\(name)\" is not a head name (L4-H1)")
        }
        self.init(layer: layer - 1, head: head - 1)
    }
}
