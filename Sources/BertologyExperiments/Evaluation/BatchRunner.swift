import BertologyEngine
import Foundation

/// The one loop of every experiment that walks a dataset (evaluation, analyses, ablation sweeps,
/// later fine-tuning's dev evaluation): before each batch, a cancellation check that throws
/// `.cancelled` with the caller's message; the batch's work (usually `forward`: one pass with the
/// interventions and the observer); after it, the progress count. A phase may span several calls
/// (an analysis runs its dataset a chunk at a time): the count carries over.
struct BatchRunner {
    /// The progress phase, for example "STS-B dev".
    let phase: String
    /// Units (sequences or examples) in the phase.
    let total: Int
    private let progress: ProgressHandler?
    private let cancelled: (_ done: Int) -> String
    /// Units done so far.
    private(set) var done = 0

    /// Starts a phase and reports 0 of `total` to `progress`.
    /// - Parameter cancelled: the message of the `.cancelled` error after `done` units.
    init(phase: String, total: Int, progress: ProgressHandler?, cancelled: @escaping (_ done: Int) -> String) {
        self.phase = phase
        self.total = total
        self.progress = progress
        self.cancelled = cancelled
        progress?(Progress(phase: phase, completed: 0, total: total))
    }

    /// Runs `body` on each batch in order, counting `units(batch)` done after each.
    /// - Throws: `.cancelled` when the current task is cancelled (checked before each batch), or
    ///   what `body` throws.
    mutating func run<S: Sequence>(_ batches: S, units: (S.Element) -> Int,
                                   _ body: (S.Element) throws -> Void) throws {
        for batch in batches {
            if Task.isCancelled { throw BertologyError(.cancelled, cancelled(done)) }
            try body(batch)
            done += units(batch)
            progress?(Progress(phase: phase, completed: done, total: total))
        }
    }

    /// One forward pass per batch on `session`, with `interventions` and `observer`: `before` runs
    /// before the pass (an analyzer learns the rows), `after` after it (the outputs are read).
    mutating func forward(_ batches: [PreparedBatch], session: InferenceSession,
                          interventions: HeadInterventions? = nil, observer: (any AttentionObserver)? = nil,
                          before: (PreparedBatch) -> Void = { _ in },
                          after: (PreparedBatch) throws -> Void = { _ in }) throws {
        try run(batches, units: \.rows.count) { prepared in
            before(prepared)
            try session.forward(prepared.batch, interventions: interventions, observer: observer)
            try after(prepared)
        }
    }
}
