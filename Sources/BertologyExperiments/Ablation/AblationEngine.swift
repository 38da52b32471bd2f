import BertologyEngine
import Foundation

/// Runs single ablations over every batch of a prepared evaluation, reusing what they leave
/// unchanged (docs/ABLATION.md, "Prefix reuse"):
///
/// - switching off a head of layer l changes nothing below l, so the layer's input is computed once
///   per batch for every ablation at l (and, with the prefix cache, once per batch for the whole
///   sweep: the cache holds every batch's input to the current layer and moves up one layer per group);
/// - inside layer l the QKV projection and every other head's context are the baseline's, so each
///   ablation reuses the baseline's attention step and recomputes only the switched-off heads
///   (`InferenceSession.runLayer(reusingAttentionOf:interventions:)`), then runs the layers above.
///
/// A client of the engine's partial forward (`begin`, `runLayers`, `runAttention`, `save(into:)`):
/// every step runs the kernels of `InferenceSession.forward` on the same inputs in the same batches,
/// so each ablation's outputs are the bits a from-scratch forward with its interventions gives
/// (AblationTests check this bit for bit, on every instruction set).
final class AblationEngine {
    let evaluation: PreparedEvaluation
    let mode: HeadIntervention
    private let baseline: InferenceSession
    private let suffix: InferenceSession
    /// Bytes the prefix cache may take (every batch's hidden state, padded tokens x C floats).
    let cacheBytes: Int
    /// Per batch, (B,T,C): the input of layer `cachedLayer` (the baseline's hidden state).
    private var cache: [HiddenState] = []
    private var cachedLayer: Int?

    init(evaluation: PreparedEvaluation, mode: HeadIntervention, cacheBytes: Int) {
        precondition(mode != .keep, "an ablation switches heads off")
        self.evaluation = evaluation
        self.mode = mode
        self.cacheBytes = cacheBytes
        baseline = InferenceSession(model: evaluation.checkpoint.model)
        suffix = InferenceSession(model: evaluation.checkpoint.model)
    }

    var layerCount: Int { evaluation.checkpoint.model.layerCount }

    /// Whether every batch's hidden state fits in `cacheBytes`.
    var usesCache: Bool {
        let floats = evaluation.sequences.paddedTokenCount * evaluation.checkpoint.model.config.hiddenSize
        return floats * MemoryLayout<Float>.stride <= cacheBytes
    }

    /// Relative cost of running `ablations` (all in `layer`, or the baseline with `layer` ==
    /// layerCount) now, in layers run per batch: for the progress bar's estimate.
    func cost(layer: Int, ablations: Int) -> Double {
        let prefix = Double(layer - (usesCache ? min(cachedLayer ?? 0, layer) : 0))
        if layer == layerCount { return prefix }
        // Attention output projection and feed-forward (9 of 12 GEMM units) of layer l, then the
        // layers above it, per ablation; the baseline's layer l once.
        return prefix + 1 + Double(ablations) * (0.75 + Double(layerCount - layer - 1))
    }

    /// The outputs of every ablation in `ablations` (all of layer `layer`; or `[.baseline]` with
    /// `layer` == layerCount): per ablation, `outputWidth` floats per forward row, rows in the
    /// original order (what `PreparedEvaluation.result(outputs:...)` scores).
    ///
    /// A layer's ablations may be run in several calls (passes) for the journal's sake: with the
    /// cache, every pass after the first starts from the layer's cached input, and only the last
    /// one (`advancesCache`) moves the cache up to the next layer's input.
    ///
    /// - Parameters:
    ///   - advancesCache: false when more ablations of `layer` follow in another call.
    ///   - batchDone: called after each batch with its index in run order.
    /// - Throws: `.cancelled` when the current task is cancelled (checked before each batch).
    func run(layer: Int, ablations: [Ablation], advancesCache: Bool = true,
             batchDone: (Int) -> Void = { _ in }) throws -> [[Float]] {
        let model = evaluation.checkpoint.model
        let width = evaluation.outputWidth
        let sequences = evaluation.sequences
        precondition(ablations.allSatisfy { $0.layer == (layer == layerCount ? nil : layer) }, "ablations of another layer")
        let interventions = ablations.map { ablation in
            ablation.interventions(mode: mode, layerCount: model.layerCount, headCount: model.headCount)
                ?? HeadInterventions(layerCount: model.layerCount, headCount: model.headCount)
        }
        var outputs = ablations.map { _ in [Float](repeating: 0, count: sequences.count * width) }
        let caching = usesCache
        if caching && cache.isEmpty {
            cache = sequences.batches.map { HiddenState(batch: $0.batch, hiddenSize: model.config.hiddenSize) }
        }

        let cacheHoldsInput = caching && cachedLayer == layer
        // A cancelled pass leaves the cache half moved: the engine is not used again (the sweep throws).
        var runner = BatchRunner(phase: "ablations", total: sequences.count, progress: nil) { _ in
            "ablation sweep cancelled in layer group \(layer + 1)"
        }
        try runner.run(sequences.batches.enumerated(), units: \.element.rows.count) { index, prepared in
            // The input of `layer`: from the cache when it holds a layer at or below it, else from
            // the embeddings; the baseline's own layers in between.
            if caching, let cachedLayer, cachedLayer <= layer {
                try baseline.begin(from: cache[index])
            } else {
                try baseline.begin(prepared.batch)
            }
            try baseline.runLayers(to: layer)
            // The cache now holds the input of `layer` (the next pass of this layer starts from it).
            if caching && !cacheHoldsInput { baseline.save(into: cache[index]) }

            if layer == layerCount {
                baseline.finish()
                copyOutputs(from: baseline, prepared, width: width, into: &outputs[0])
            } else {
                // Layer l's QKV projection and every kept head's context once; each ablation
                // recomputes only its switched-off heads, then runs the layers above.
                try baseline.runAttention()
                for (a, ablationInterventions) in interventions.enumerated() {
                    try suffix.runLayer(reusingAttentionOf: baseline, interventions: ablationInterventions)
                    try suffix.runLayers(to: layerCount)
                    suffix.finish()
                    copyOutputs(from: suffix, prepared, width: width, into: &outputs[a])
                }
                if caching && advancesCache {
                    try baseline.runLayers(to: layer + 1)
                    baseline.save(into: cache[index])
                }
            }
            batchDone(index)
        }
        if caching { cachedLayer = layer < layerCount && advancesCache ? layer + 1 : layer }
        return outputs
    }

    /// Copies the session's outputs for the batch's rows into `outputs` (original row order).
    private func copyOutputs(from session: InferenceSession, _ prepared: PreparedBatch, width: Int, into outputs: inout [Float]) {
        func copy(_ source: UnsafeBufferPointer<Float>) {
            outputs.withUnsafeMutableBufferPointer { destination in
                for (b, row) in prepared.rows.enumerated() {
                    (destination.baseAddress! + row * width).update(from: source.baseAddress! + b * width, count: width)
                }
            }
        }
        if evaluation.scorer == .cosine {
            session.withSentenceEmbeddings(copy)
        } else {
            session.withLogits(copy)
        }
    }
}
