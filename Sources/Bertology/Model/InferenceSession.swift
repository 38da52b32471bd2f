import CKernels
import Foundation

/// Runs a `BertModel` on batches. Holds the activation buffers, sized to the largest batch seen and
/// reused, so a steady stream of batches allocates nothing. One session per task: sessions are
/// not Sendable; the model they share is.
public final class InferenceSession {
    /// The model this session runs; many sessions may share it.
    public let model: BertModel
    private let buffers = Workspace()
    /// The batch of the last `forward`, whose results the buffers hold.
    public private(set) var lastBatch: Batch?

    /// Creates a session with no buffers yet; the first `forward` allocates them.
    public init(model: BertModel) {
        self.model = model
    }

    // MARK: - Forward pass

    /// Runs the model on `batch`, leaving the results in this session until the next call
    /// (read them with `lastHiddenState`, `sentenceEmbedding`, `logits`, `pooledOutput`).
    /// Allocates nothing once the session has seen a batch of this size.
    ///
    /// - Parameters:
    ///   - batch: the padded token ids and segment ids of the examples.
    ///   - interventions: head changes applied after softmax, before the probabilities multiply V.
    ///   - observer: receives every layer's probabilities (as used) while the pass runs.
    /// - Throws: `BertologyError` `.usage` when the batch does not fit the model (longer than
    ///   `max_position_embeddings`, an id outside the vocabulary or `type_vocab_size`, a length
    ///   outside 1...T) or the interventions are for another shape.
    public func forward(_ batch: Batch, interventions: HeadInterventions? = nil,
                        observer: (any AttentionObserver)? = nil) throws {
        try validate(batch, interventions)
        reserve(for: batch, probabilities: observer != nil)
        let (b, t, nh) = (batch.size, batch.sequenceLength, model.config.numAttentionHeads)
        let probabilities = observer == nil ? nil : buffers.probabilities.pointer
        let changed = interventions.map { !$0.isEmpty } ?? false
        embed(batch)
        for index in model.weights.layers.indices {
            // Self-attention: one GEMM for Q, K and V, then per-head attention with the intervention.
            if changed, let interventions {
                interventions.withLayerModes(index) { modes in
                    attend(layer: index, batch: batch, modes: modes, probabilities: probabilities)
                }
            } else {
                attend(layer: index, batch: batch, modes: nil, probabilities: probabilities)
            }
            if let observer, let probabilities {
                observer.observe(LayerAttention(
                    layer: index, headCount: nh, batch: batch,
                    probabilities: UnsafeBufferPointer(start: probabilities, count: b * nh * t * t)))
            }
            finishLayer(index, rows: batch.size * batch.sequenceLength, context: buffers.context.pointer,
                        residual: buffers.hidden.pointer)
        }
        pool(batch)
    }

    // MARK: - The forward pass in steps
    // `forward` is these steps in order; ablation sweeps (AblationEngine) run them separately to
    // reuse the layers an ablation leaves unchanged. Each step calls the same kernels on the same
    // buffers as `forward`, so a pass assembled from them gives the same bits.

    /// Grows the buffers for `batch` (nothing is allocated once they are large enough).
    func reserve(for batch: Batch, probabilities: Bool) {
        let config = model.config
        let (b, t) = (batch.size, batch.sequenceLength)
        buffers.reserve(tokens: b * t, batch: b, sequenceLength: t, config: config,
                        probabilities: probabilities ? b * config.numAttentionHeads * t * t : 0,
                        labels: model.weights.classifier.map { $0.weight.shape[0] } ?? 0)
    }

    /// (B,T,C) `hidden` = layernorm(word + position + token type embeddings).
    func embed(_ batch: Batch) {
        let weights = model.weights
        let (b, t, c) = (batch.size, batch.sequenceLength, model.config.hiddenSize)
        let hidden = buffers.hidden.pointer
        batch.inputIds.withUnsafeBufferPointer { ids in
            batch.tokenTypeIds.withUnsafeBufferPointer { types in
                ck_embeddings_forward(hidden, ids.baseAddress, types.baseAddress, weights.wordEmbeddings.pointer,
                                      weights.positionEmbeddings.pointer, weights.tokenTypeEmbeddings.pointer,
                                      Int32(b), Int32(t), Int32(c))
            }
        }
        ck_layernorm_forward(hidden, hidden, weights.embeddingNormWeight.pointer, weights.embeddingNormBias.pointer,
                             Int32(b * t), Int32(c), model.config.layerNormEps)
    }

    /// Layer `layer`'s self-attention on `hidden`: (B,T,3C) `qkv`, then (B,T,C) `context` with the
    /// per-head `modes` (nil: all kept); `probabilities` (B,NH,T,T) receives the maps when given.
    func attend(layer: Int, batch: Batch, modes: UnsafePointer<Int32>?, probabilities: UnsafeMutablePointer<Float>?) {
        let config = model.config
        let weights = model.weights.layers[layer]
        let (b, t) = (batch.size, batch.sequenceLength)
        let (nh, hs) = (config.numAttentionHeads, config.headSize)
        linear(buffers.qkv.pointer, buffers.hidden.pointer, weights.qkvWeight, rows: b * t,
               ck_linear_epilogue(bias: weights.qkvBias.pointer))
        // HF: self.scaling = attention_head_size ** -0.5 (a Python double, applied in float32).
        let scale = Float(pow(Double(hs), -0.5))
        batch.lengths.withUnsafeBufferPointer { lengths in
            ck_attention_forward(buffers.context.pointer, probabilities, buffers.qkv.pointer, lengths.baseAddress, modes,
                                 Int32(b), Int32(t), Int32(nh), Int32(hs), scale,
                                 buffers.attentionWorkspace.pointer, buffers.attentionWorkspace.capacity)
        }
    }

    /// The rest of layer `layer` for `rows` tokens: attention output (BertSelfOutput: dense + bias +
    /// `residual` + layernorm, one kernel) from `context`, then the feed-forward (dense + bias + GELU,
    /// then dense + bias + residual + layernorm) into `hidden` for the next layer. `residual` is the
    /// layer's input; it may be this session's `hidden` (it is read before `hidden` is written).
    func finishLayer(_ layer: Int, rows: Int, context: UnsafePointer<Float>, residual: UnsafePointer<Float>) {
        let weights = model.weights.layers[layer]
        let eps = model.config.layerNormEps
        let attentionOutput = buffers.attentionOutput.pointer, intermediate = buffers.intermediate.pointer
        linear(attentionOutput, context, weights.attentionOutputWeight, rows: rows,
               ck_linear_epilogue(bias: weights.attentionOutputBias.pointer, residual: residual,
                                  normWeight: weights.attentionNormWeight.pointer,
                                  normBias: weights.attentionNormBias.pointer, eps: eps))
        linear(intermediate, attentionOutput, weights.intermediateWeight, rows: rows,
               ck_linear_epilogue(bias: weights.intermediateBias.pointer, gelu: true))
        linear(buffers.hidden.pointer, intermediate, weights.outputWeight, rows: rows,
               ck_linear_epilogue(bias: weights.outputBias.pointer, residual: attentionOutput,
                                  normWeight: weights.outputNormWeight.pointer,
                                  normBias: weights.outputNormBias.pointer, eps: eps))
    }

    /// The model's outputs from the last hidden state: mean-pooled sentence embeddings, and the
    /// pooler and classifier when the checkpoint has them. Makes `batch` the session's `lastBatch`.
    func pool(_ batch: Batch) {
        let weights = model.weights
        let (b, t, c) = (batch.size, batch.sequenceLength, model.config.hiddenSize)
        let hidden = buffers.hidden.pointer
        batch.lengths.withUnsafeBufferPointer { lengths in
            ck_mean_pool(buffers.sentence.pointer, hidden, lengths.baseAddress, Int32(b), Int32(t), Int32(c))
        }
        if let pooler = weights.pooler {
            let cls = buffers.cls.pointer
            for example in 0..<b { (cls + example * c).update(from: hidden + example * t * c, count: c) }
            ck_linear_forward(buffers.pooled.pointer, cls, pooler.weight.pointer, pooler.bias.pointer,
                              Int32(b), Int32(c), Int32(c))
            ck_tanh_forward(buffers.pooled.pointer, buffers.pooled.pointer, b * c)
            if let classifier = weights.classifier {
                let labels = classifier.weight.shape[0]
                ck_linear_forward(buffers.logits.pointer, buffers.pooled.pointer, classifier.weight.pointer,
                                  classifier.bias.pointer, Int32(b), Int32(labels), Int32(c))
            }
        }
        lastBatch = batch
    }

    /// out (rows, N) = epilogue(inp · weightᵀ) on the packed weight.
    private func linear(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ weight: PackedWeight,
                        rows: Int, _ epilogue: ck_linear_epilogue) {
        withUnsafePointer(to: epilogue) { epiloguePointer in
            ck_linear_packed_forward(out, inp, weight.pointer, epiloguePointer, Int32(rows),
                                     Int32(weight.outputs), Int32(weight.inputs),
                                     buffers.linearWorkspace.pointer, buffers.linearWorkspace.capacity)
        }
    }

    /// The (B,T,C) hidden state buffer: a layer's input before `attend`, its output after `finishLayer`.
    var hiddenBuffer: UnsafeMutablePointer<Float> { buffers.hidden.pointer }
    /// The (B,T,3C) QKV projection of the last `attend`.
    var qkvBuffer: UnsafeMutablePointer<Float> { buffers.qkv.pointer }
    /// The (B,T,C) attention context of the last `attend`.
    var contextBuffer: UnsafeMutablePointer<Float> { buffers.context.pointer }
    /// (B,C) mean-pooled embeddings and (B,labels) logits of the last `pool`.
    var sentenceBuffer: UnsafeMutablePointer<Float> { buffers.sentence.pointer }
    var logitsBuffer: UnsafeMutablePointer<Float> { buffers.logits.pointer }

    func validate(_ batch: Batch, _ interventions: HeadInterventions?) throws {
        let config = model.config
        try batch.validate(for: config)
        if let interventions, interventions.layerCount != config.numHiddenLayers || interventions.headCount != config.numAttentionHeads {
            throw BertologyError.usage("interventions are for \(interventions.layerCount)x\(interventions.headCount) heads, the model has \(config.numHiddenLayers)x\(config.numAttentionHeads)")
        }
    }

    // MARK: - Results of the last forward pass

    private func checkExample(_ b: Int) -> Batch {
        guard let batch = lastBatch else { preconditionFailure("no forward pass has run on this session") }
        precondition(b >= 0 && b < batch.size, "example \(b) outside the last batch of \(batch.size)")
        return batch
    }

    /// (lengths[b], C): the last hidden state of example `b`'s real tokens.
    public func lastHiddenState(example b: Int) -> [Float] {
        let batch = checkExample(b)
        let c = model.config.hiddenSize
        let start = buffers.hidden.pointer + b * batch.sequenceLength * c
        return Array(UnsafeBufferPointer(start: start, count: Int(batch.lengths[b]) * c))
    }

    /// (C): the mean of example `b`'s last hidden state over its real tokens.
    public func sentenceEmbedding(example b: Int) -> [Float] {
        _ = checkExample(b)
        let c = model.config.hiddenSize
        return Array(UnsafeBufferPointer(start: buffers.sentence.pointer + b * c, count: c))
    }

    /// (C): tanh(W h[CLS] + b), or nil when the model has no pooler.
    public func pooledOutput(example b: Int) -> [Float]? {
        _ = checkExample(b)
        guard model.hasPooler else { return nil }
        let c = model.config.hiddenSize
        return Array(UnsafeBufferPointer(start: buffers.pooled.pointer + b * c, count: c))
    }

    /// (num_labels): the classifier's outputs, or nil when the model has no classifier.
    public func logits(example b: Int) -> [Float]? {
        _ = checkExample(b)
        guard let classifier = model.weights.classifier else { return nil }
        let labels = classifier.weight.shape[0]
        return Array(UnsafeBufferPointer(start: buffers.logits.pointer + b * labels, count: labels))
    }

    /// Calls `body` with the (B,T,C) last hidden state of the last batch, padding rows included.
    public func withLastHiddenState<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        guard let batch = lastBatch else { preconditionFailure("no forward pass has run on this session") }
        return try body(UnsafeBufferPointer(start: buffers.hidden.pointer,
                                            count: batch.size * batch.sequenceLength * model.config.hiddenSize))
    }
}

extension ck_linear_epilogue {
    init(bias: UnsafePointer<Float>, gelu: Bool = false, residual: UnsafePointer<Float>? = nil,
         normWeight: UnsafePointer<Float>? = nil, normBias: UnsafePointer<Float>? = nil, eps: Float = 0) {
        self.init(bias: bias, activation: Int32(gelu ? CK_ACTIVATION_GELU.rawValue : CK_ACTIVATION_NONE.rawValue),
                  residual: residual, norm_weight: normWeight, norm_bias: normBias, norm_eps: eps)
    }
}

/// Activation buffers and kernel workspaces of one session, grown to the largest shape seen, never
/// shrunk: once a session has run its largest batch, `forward` allocates nothing.
final class Workspace {
    var hidden = Buffer(), qkv = Buffer(), context = Buffer(), attentionOutput = Buffer(), intermediate = Buffer()
    var probabilities = Buffer()
    var cls = Buffer(), pooled = Buffer(), sentence = Buffer(), logits = Buffer()
    /// Scratch of the packed GEMM (activation blocks) and of attention (key panels, score rows).
    var linearWorkspace = Buffer(), attentionWorkspace = Buffer()

    struct Buffer {
        private var storage: TensorStorage?
        var pointer: UnsafeMutablePointer<Float> { storage!.pointer }
        var capacity: Int { storage?.capacity ?? 0 }

        mutating func reserve(_ count: Int) {
            if let storage, storage.capacity >= count { return }
            storage = TensorStorage(capacity: count)
        }
    }

    func reserve(tokens: Int, batch: Int, sequenceLength: Int, config: BertConfig,
                 probabilities probabilityCount: Int, labels: Int) {
        let c = config.hiddenSize
        hidden.reserve(tokens * c)
        qkv.reserve(tokens * 3 * c)
        context.reserve(tokens * c)
        attentionOutput.reserve(tokens * c)
        intermediate.reserve(tokens * config.intermediateSize)
        if probabilityCount > 0 { probabilities.reserve(probabilityCount) }
        // Sized for the threads kernels use now; with fewer floats the kernels run on fewer threads.
        let threads = Int32(Kernels.maxThreads)
        linearWorkspace.reserve(ck_linear_workspace_size(threads))
        attentionWorkspace.reserve(ck_attention_workspace_size(Int32(sequenceLength), Int32(config.headSize), threads))
        cls.reserve(batch * c)
        pooled.reserve(batch * c)
        sentence.reserve(batch * c)
        logits.reserve(batch * max(1, labels))
    }
}
