import CKernels
import Foundation

/// Runs single ablations over every batch of a prepared evaluation, reusing what they leave
/// unchanged (docs/ABLATION.md, "Prefix reuse"):
///
/// - switching off a head of layer l changes nothing below l, so the layer's input is computed once
///   per batch for every ablation at l (and, with the prefix cache, once per batch for the whole
///   sweep: the cache holds every batch's input to the current layer and moves up one layer per group);
/// - inside layer l the QKV projection and every other head's context are the baseline's, so each
///   ablation copies the baseline's context, rewrites the switched-off heads' columns
///   (`ck_attention_fixed_heads`, the code `ck_attention_forward` runs for them) and runs from the
///   attention output projection on.
///
/// Every step runs the kernels of `InferenceSession.forward` on the same inputs in the same batches,
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
    private var cache: [TensorStorage] = []
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
        let config = model.config
        let (c, nh, hs) = (config.hiddenSize, config.numAttentionHeads, config.headSize)
        let width = evaluation.outputWidth
        let sequences = evaluation.sequences
        precondition(ablations.allSatisfy { $0.layer == (layer == layerCount ? nil : layer) }, "ablations of another layer")
        let modes: [[Int32]] = ablations.map { ablation in
            (0..<nh).map { head in
                switch ablation {
                case .baseline: HeadIntervention.keep.kernelMode
                case .head(let id): id.head == head ? mode.kernelMode : HeadIntervention.keep.kernelMode
                case .layer: mode.kernelMode
                }
            }
        }
        var outputs = ablations.map { _ in [Float](repeating: 0, count: sequences.count * width) }
        let caching = usesCache
        if caching && cache.isEmpty {
            cache = sequences.batches.map { TensorStorage(capacity: $0.batch.size * $0.batch.sequenceLength * c) }
        }

        let cacheHoldsInput = caching && cachedLayer == layer
        for (index, prepared) in sequences.batches.enumerated() {
            // A cancelled pass leaves the cache half moved: the engine is not used again (the sweep throws).
            if Task.isCancelled {
                throw BertologyError(.cancelled, "ablation sweep cancelled in layer group \(layer + 1)")
            }
            let batch = prepared.batch
            let rows = batch.size * batch.sequenceLength
            try baseline.validate(batch, nil)
            baseline.reserve(for: batch, probabilities: false)
            suffix.reserve(for: batch, probabilities: false)

            // The input of `layer`: from the cache when it holds a layer at or below it, else from
            // the embeddings; the baseline's own layers in between.
            var from = 0
            if caching, let cachedLayer, cachedLayer <= layer {
                baseline.hiddenBuffer.update(from: cache[index].pointer, count: rows * c)
                from = cachedLayer
            } else {
                baseline.embed(batch)
            }
            for m in from..<layer {
                baseline.attend(layer: m, batch: batch, modes: nil, probabilities: nil)
                baseline.finishLayer(m, rows: rows, context: baseline.contextBuffer, residual: baseline.hiddenBuffer)
            }
            // The cache now holds the input of `layer` (the next pass of this layer starts from it).
            if caching && !cacheHoldsInput { cache[index].pointer.update(from: baseline.hiddenBuffer, count: rows * c) }

            if layer == layerCount {
                baseline.pool(batch)
                copyOutputs(from: baseline, prepared, width: width, into: &outputs[0])
            } else {
                baseline.attend(layer: layer, batch: batch, modes: nil, probabilities: nil)
                for (a, ablationModes) in modes.enumerated() {
                    suffix.contextBuffer.update(from: baseline.contextBuffer, count: rows * c)
                    batch.lengths.withUnsafeBufferPointer { lengths in
                        ablationModes.withUnsafeBufferPointer { modePointer in
                            ck_attention_fixed_heads(suffix.contextBuffer, baseline.qkvBuffer, lengths.baseAddress,
                                                     modePointer.baseAddress, Int32(batch.size), Int32(batch.sequenceLength),
                                                     Int32(nh), Int32(hs))
                        }
                    }
                    suffix.finishLayer(layer, rows: rows, context: suffix.contextBuffer, residual: baseline.hiddenBuffer)
                    for m in (layer + 1)..<layerCount {
                        suffix.attend(layer: m, batch: batch, modes: nil, probabilities: nil)
                        suffix.finishLayer(m, rows: rows, context: suffix.contextBuffer, residual: suffix.hiddenBuffer)
                    }
                    suffix.pool(batch)
                    copyOutputs(from: suffix, prepared, width: width, into: &outputs[a])
                }
                if caching && advancesCache {
                    baseline.finishLayer(layer, rows: rows, context: baseline.contextBuffer, residual: baseline.hiddenBuffer)
                    cache[index].pointer.update(from: baseline.hiddenBuffer, count: rows * c)
                }
            }
            batchDone(index)
        }
        if caching { cachedLayer = layer < layerCount && advancesCache ? layer + 1 : layer }
        return outputs
    }

    /// Copies the session's outputs for the batch's rows into `outputs` (original row order).
    private func copyOutputs(from session: InferenceSession, _ prepared: PreparedBatch, width: Int, into outputs: inout [Float]) {
        let source = evaluation.scorer == .cosine ? session.sentenceBuffer : session.logitsBuffer
        outputs.withUnsafeMutableBufferPointer { destination in
            for (b, row) in prepared.rows.enumerated() {
                (destination.baseAddress! + row * width).update(from: source + b * width, count: width)
            }
        }
    }
}
