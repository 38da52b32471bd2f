internal import CKernels
import Foundation

/// Runs a `BertModel` on batches. Holds the activation buffers, sized to the largest batch seen and
/// reused, so a steady stream of batches allocates nothing. One session per task: sessions are
/// not Sendable; the model they share is.
public final class InferenceSession {
    /// The model this session runs; many sessions may share it.
    public let model: BertModel
    private let buffers = Workspace()
    /// (B,T) position ids of the current batch, for families that count positions from the padding index.
    private var positionIds: [Int32] = []
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
    /// The same as the partial forward below run whole: `begin(batch)`, `runLayers(to: layerCount)`,
    /// `finish()`.
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
        start(batch, probabilities: observer != nil)
        embed(batch)
        layers(to: model.layerCount, interventions: interventions, observer: observer)
        finish()
    }

    // MARK: - Partial forward
    // The one way to run part of the model: `forward` is `begin`, `runLayers` and `finish`; ablation
    // sweeps reuse a prefix through `save(into:)` / `begin(from:)` and one layer's attention step
    // through `runAttention` / `runLayer(reusingAttentionOf:interventions:)`. Every step calls the
    // same kernels on the same buffers in the same order as `forward`, so a pass assembled from
    // steps gives the bits of a whole pass (AblationExactnessTests check it on every ISA).

    /// Where a partial forward pass stands.
    public enum Position: Equatable, Sendable {
        /// No pass begun (or the last one was abandoned by a failed `begin`).
        case idle
        /// The session's hidden state is the input of this layer (`layerCount`: the last hidden state).
        case layerInput(Int)
        /// This layer's attention step is done (QKV projection and context), the rest of it is not.
        case attended(Int)
        /// The pass is pooled: the results of the batch are readable.
        case finished
    }

    /// Where the current pass stands.
    public private(set) var position: Position = .idle
    /// The batch of the current pass.
    public private(set) var currentBatch: Batch?
    /// Whether the last `runAttention` changed any head (its step cannot be reused).
    private var attendedWithChanges = false

    /// Begins a pass on `batch`: checks it, then computes the embeddings (the input of layer 0).
    /// - Throws: `.usage` when the batch does not fit the model (as `forward`).
    public func begin(_ batch: Batch) throws {
        try validate(batch, nil)
        start(batch, probabilities: false)
        embed(batch)
    }

    /// Begins a pass from a saved hidden state: the session's hidden state becomes `state`'s,
    /// the input of layer `state.layer`, for `state.batch`.
    /// - Throws: `.usage` when the batch does not fit the model (as `forward`).
    public func begin(from state: HiddenState) throws {
        try validate(state.batch, nil)
        precondition(state.hiddenSize == model.config.hiddenSize, "a hidden state of another model")
        start(state.batch, probabilities: false)
        buffers.hidden.pointer.update(from: state.storage.pointer, count: state.storage.capacity)
        position = .layerInput(state.layer)
    }

    /// Runs layers from the current one up to (not including) `end`; a layer whose attention step
    /// was run (`runAttention`) is finished first.
    /// - Parameters:
    ///   - end: the layer whose input the hidden state then is (`layerCount`: the last hidden state).
    ///   - interventions: head changes in the layers run.
    ///   - observer: receives each layer's probabilities (as used).
    /// - Throws: `.usage` when the interventions are for another shape.
    public func runLayers(to end: Int, interventions: HeadInterventions? = nil,
                          observer: (any AttentionObserver)? = nil) throws {
        try validate(interventions)
        if observer != nil, let batch = currentBatch { reserveProbabilities(batch) }
        layers(to: end, interventions: interventions, observer: observer)
    }

    /// Runs the attention step (QKV projection and per-head context) of the current layer, with
    /// `interventions` on its heads; `runLayers` or another session's `runLayer(reusingAttentionOf:)`
    /// finishes the layer.
    /// - Throws: `.usage` when the interventions are for another shape.
    public func runAttention(interventions: HeadInterventions? = nil) throws {
        try validate(interventions)
        guard case .layerInput(let layer) = position, let batch = currentBatch, layer < model.layerCount else {
            preconditionFailure("runAttention needs a pass at a layer's input, not \(position)")
        }
        let changed = interventions.map { !$0.isEmpty } ?? false
        if changed, let interventions {
            interventions.withLayerModes(layer) { attend(layer: layer, batch: batch, modes: $0, probabilities: nil) }
        } else {
            attend(layer: layer, batch: batch, modes: nil, probabilities: nil)
        }
        attendedWithChanges = changed
        position = .attended(layer)
    }

    /// Runs layer l of `source`'s pass, where `source` has run the attention step of l with every
    /// head kept, as if that step had run with `interventions`: the QKV projection and the context
    /// of the kept heads are `source`'s, the heads `interventions` changes in layer l are computed
    /// (exactly as a whole pass computes them), then the rest of the layer. This session is then at
    /// the input of layer l + 1 of `source`'s batch; `source` is unchanged. Only layer l's
    /// interventions are used; pass the rest to `runLayers`.
    /// - Throws: `.usage` when the interventions are for another shape.
    public func runLayer(reusingAttentionOf source: InferenceSession, interventions: HeadInterventions) throws {
        try validate(interventions)
        guard case .attended(let layer) = source.position, let batch = source.currentBatch, !source.attendedWithChanges else {
            preconditionFailure("the source session has not run an unchanged attention step")
        }
        precondition(source !== self && source.model === model, "reusing needs another session of the same model")
        let config = model.config
        let rows = batch.size * batch.sequenceLength
        start(batch, probabilities: false)
        let context = buffers.context.pointer
        context.update(from: source.buffers.context.pointer, count: rows * config.hiddenSize)
        interventions.withLayerModes(layer) { modes in
            batch.lengths.withUnsafeBufferPointer { lengths in
                ck_attention_fixed_heads(context, source.buffers.qkv.pointer, lengths.baseAddress, modes,
                                         Int32(batch.size), Int32(batch.sequenceLength),
                                         Int32(config.numAttentionHeads), Int32(config.headSize))
            }
        }
        finishLayer(layer, rows: rows, context: context, residual: source.buffers.hidden.pointer)
        position = .layerInput(layer + 1)
    }

    /// Copies the hidden state (the input of the current layer) into `state`, which must be sized
    /// for the current batch; `state` then records that layer and batch.
    public func save(into state: HiddenState) {
        guard case .layerInput(let layer) = position, let batch = currentBatch else {
            preconditionFailure("save(into:) needs a pass at a layer's input, not \(position)")
        }
        precondition(state.batch.size == batch.size && state.batch.sequenceLength == batch.sequenceLength
                     && state.hiddenSize == model.config.hiddenSize, "a hidden state sized for another batch")
        state.storage.pointer.update(from: buffers.hidden.pointer, count: state.storage.capacity)
        state.batch = batch
        state.layer = layer
    }

    /// Computes the outputs from the last hidden state (mean-pooled sentence embeddings, and the
    /// pooler and classifier when the checkpoint has them) and makes the batch the session's
    /// `lastBatch`. The pass must have run every layer.
    public func finish() {
        guard position == .layerInput(model.layerCount), let batch = currentBatch else {
            preconditionFailure("finish() needs a pass that has run every layer, not \(position)")
        }
        pool(batch)
        position = .finished
    }

    // MARK: - Steps

    /// Makes `batch` the current one and grows the buffers for it (nothing is allocated once they
    /// are large enough).
    private func start(_ batch: Batch, probabilities: Bool) {
        let config = model.config
        let (b, t) = (batch.size, batch.sequenceLength)
        buffers.reserve(tokens: b * t, batch: b, sequenceLength: t, config: config,
                        probabilities: probabilities ? b * config.numAttentionHeads * t * t : 0,
                        labels: model.weights.classifier.map { $0.weight.outputs } ?? 0)
        currentBatch = batch
        position = .idle
    }

    private func reserveProbabilities(_ batch: Batch) {
        buffers.probabilities.reserve(batch.size * model.config.numAttentionHeads * batch.sequenceLength * batch.sequenceLength)
    }

    /// Layers from the current one to `end`, finishing an attended layer first.
    private func layers(to end: Int, interventions: HeadInterventions?, observer: (any AttentionObserver)?) {
        guard let batch = currentBatch else { preconditionFailure("no pass begun") }
        let rows = batch.size * batch.sequenceLength
        let from: Int
        switch position {
        case .layerInput(let layer): from = layer
        case .attended(let layer):
            finishLayer(layer, rows: rows, context: buffers.context.pointer, residual: buffers.hidden.pointer)
            from = layer + 1
        case .idle, .finished: preconditionFailure("runLayers needs a pass begun, not \(position)")
        }
        precondition(from <= end && end <= model.layerCount, "layers \(from)..<\(end) outside the model")
        let (b, t, nh) = (batch.size, batch.sequenceLength, model.config.numAttentionHeads)
        let probabilities = observer == nil ? nil : buffers.probabilities.pointer
        let changed = interventions.map { !$0.isEmpty } ?? false
        for index in from..<end {
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
            finishLayer(index, rows: rows, context: buffers.context.pointer, residual: buffers.hidden.pointer)
        }
        position = .layerInput(end)
    }

    /// The kernels' scratch of this session.
    private var workspaces: EncoderStep.Workspaces {
        EncoderStep.Workspaces(linear: buffers.linearWorkspace.pointer, linearFloats: buffers.linearWorkspace.capacity,
                               attention: buffers.attentionWorkspace.pointer, attentionFloats: buffers.attentionWorkspace.capacity)
    }

    /// (B,T,C) `hidden` = the embeddings of `batch` (`EncoderStep.embed`).
    private func embed(_ batch: Batch) {
        let weights = model.weights
        batch.inputIds.withUnsafeBufferPointer { ids in
            batch.tokenTypeIds.withUnsafeBufferPointer { types in
                batch.lengths.withUnsafeBufferPointer { lengths in
                    EncoderStep.embed(model.config, word: weights.wordEmbeddings.pointer, position: weights.positionEmbeddings.pointer,
                                      tokenType: weights.tokenTypeEmbeddings?.pointer, normWeight: weights.embeddingNormWeight.pointer,
                                      normBias: weights.embeddingNormBias.pointer,
                                      projection: weights.embeddingProjection.map { LinearOperand($0.weight, bias: $0.bias) },
                                      ids: ids.baseAddress!, types: types.baseAddress!, lengths: lengths.baseAddress!,
                                      batch: batch.size, tokens: batch.sequenceLength, positionIds: &positionIds,
                                      embedded: weights.embeddingProjection == nil ? nil : buffers.embeddings.pointer,
                                      hidden: buffers.hidden.pointer, saves: nil, dropout: nil, workspaces)
                }
            }
        }
        position = .layerInput(0)
    }

    /// Layer `layer`'s self-attention on `hidden`: (B,T,3C) `qkv`, then (B,T,C) `context` with the per-head `modes`
    /// (nil: all kept); `probabilities` (B,NH,T,T) receives the maps when given (`EncoderStep.attend`).
    private func attend(layer: Int, batch: Batch, modes: UnsafePointer<Int32>?, probabilities: UnsafeMutablePointer<Float>?) {
        batch.lengths.withUnsafeBufferPointer { lengths in
            EncoderStep.attend(model.config, LayerOperands(model.weights.layers[layer]), index: layer, input: buffers.hidden.pointer,
                               qkv: buffers.qkv.pointer, context: buffers.context.pointer, lengths: lengths.baseAddress!,
                               batch: batch.size, tokens: batch.sequenceLength, modes: modes, probabilities: probabilities,
                               terms: model.precision.terms, saves: nil, dropout: nil, workspaces)
        }
    }

    /// The rest of layer `layer` for `rows` tokens from `context`, into `hidden` for the next layer
    /// (`EncoderStep.finish`). `residual` is the layer's input; it may be this session's `hidden`.
    private func finishLayer(_ layer: Int, rows: Int, context: UnsafePointer<Float>, residual: UnsafePointer<Float>) {
        EncoderStep.finish(model.config, LayerOperands(model.weights.layers[layer]), index: layer, rows: rows, context: context,
                           residual: residual, normed: buffers.attentionOutput.pointer, activated: buffers.intermediate.pointer,
                           output: buffers.hidden.pointer, saves: nil, dropout: nil, workspaces)
    }

    /// The model's outputs from the last hidden state: mean-pooled sentence embeddings, and the
    /// pooler and classifier when the checkpoint has them. Makes `batch` the session's `lastBatch`.
    private func pool(_ batch: Batch) {
        let weights = model.weights
        let (b, t, c) = (batch.size, batch.sequenceLength, model.config.hiddenSize)
        let hidden = buffers.hidden.pointer
        batch.lengths.withUnsafeBufferPointer { lengths in
            ck_mean_pool(buffers.sentence.pointer, hidden, lengths.baseAddress, Int32(b), Int32(t), Int32(c))
        }
        if let pooler = weights.pooler {
            let cls = buffers.cls.pointer
            for example in 0..<b { (cls + example * c).update(from: hidden + example * t * c, count: c) }
            // The packed linear kernel, as every other linear layer: one GEMM path.
            linear(buffers.pooled.pointer, cls, pooler.weight, bias: pooler.bias, rows: b)
            if weights.poolerActivation == .tanh {
                ck_tanh_forward(buffers.pooled.pointer, buffers.pooled.pointer, b * c)
            } else {
                ck_activation_forward(buffers.pooled.pointer, buffers.pooled.pointer, b * c, weights.poolerActivation.kernelValue)
            }
            if let classifier = weights.classifier {
                linear(buffers.logits.pointer, buffers.pooled.pointer, classifier.weight, bias: classifier.bias, rows: b)
            }
        }
        lastBatch = batch
    }

    /// out (rows, N) = inp · weightᵀ + bias on the packed weight, in the model's precision.
    private func linear(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ weight: PackedWeight, bias: Tensor,
                        rows: Int) {
        EncoderStep.linear(out, inp, LinearOperand(weight, bias: bias), rows: rows, ck_linear_epilogue(bias: bias.pointer), workspaces)
    }

    private func validate(_ interventions: HeadInterventions?) throws {
        let config = model.config
        if let interventions, interventions.layerCount != config.numHiddenLayers || interventions.headCount != config.numAttentionHeads {
            throw BertologyError.usage("interventions are for \(interventions.layerCount)x\(interventions.headCount) heads, the model has \(config.numHiddenLayers)x\(config.numAttentionHeads)")
        }
    }

    private func validate(_ batch: Batch, _ interventions: HeadInterventions?) throws {
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
        let labels = classifier.weight.outputs
        return Array(UnsafeBufferPointer(start: buffers.logits.pointer + b * labels, count: labels))
    }

    /// Calls `body` with the (B,C) mean-pooled sentence embeddings of the last batch.
    public func withSentenceEmbeddings<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        guard let batch = lastBatch else { preconditionFailure("no forward pass has run on this session") }
        return try body(UnsafeBufferPointer(start: buffers.sentence.pointer, count: batch.size * model.config.hiddenSize))
    }

    /// Calls `body` with the (B,num_labels) logits of the last batch; nil when the model has no classifier.
    public func withLogits<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R? {
        guard let batch = lastBatch else { preconditionFailure("no forward pass has run on this session") }
        guard let classifier = model.weights.classifier else { return nil }
        return try body(UnsafeBufferPointer(start: buffers.logits.pointer, count: batch.size * classifier.weight.outputs))
    }

    /// Calls `body` with the (B,T,C) last hidden state of the last batch, padding rows included.
    public func withLastHiddenState<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        guard let batch = lastBatch else { preconditionFailure("no forward pass has run on this session") }
        return try body(UnsafeBufferPointer(start: buffers.hidden.pointer,
                                            count: batch.size * batch.sequenceLength * model.config.hiddenSize))
    }
}

/// The (B,T,C) hidden state of one batch at the input of one layer, saved from a session
/// (`InferenceSession.save(into:)`) to begin later passes from (`begin(from:)`): an ablation sweep
/// keeps one per batch so that the layers below the ablated one run once.
public final class HiddenState {
    /// The batch the state belongs to.
    public internal(set) var batch: Batch
    /// The layer whose input the state is (0 until a session saves into it).
    public internal(set) var layer: Int = 0
    /// Hidden size (C) of the model the state is for.
    public let hiddenSize: Int
    let storage: TensorStorage

    /// Storage for `batch`'s hidden state of a model with `hiddenSize`; `save(into:)` fills it.
    public init(batch: Batch, hiddenSize: Int) {
        self.batch = batch
        self.hiddenSize = hiddenSize
        storage = TensorStorage(capacity: batch.size * batch.sequenceLength * hiddenSize)
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
    /// (B,T,E) embeddings before their projection to the hidden width (ELECTRA, ALBERT).
    var embeddings = Buffer()
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
        if config.projectsEmbeddings { embeddings.reserve(tokens * config.embeddingSize) }
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
