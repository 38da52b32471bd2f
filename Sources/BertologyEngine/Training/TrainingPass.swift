internal import CKernels
import Foundation

/// Where a dropout mask is drawn. Each (step, slot, site) is its own stream of the counter-based
/// generator (`ck_dropout_*`), so a mask depends only on the seed, the optimizer step, the place in
/// the network and the element's index, never on the thread count or on the order of calls.
enum DropoutSite: UInt64 {
    /// The embeddings' output, after their LayerNorm (slot 0).
    case embeddings = 0
    /// The attention probabilities of a layer, before they multiply V (slot 1 + layer).
    case attentionProbabilities = 1
    /// The attention output projection, before the residual and LayerNorm (slot 1 + layer).
    case attentionOutput = 2
    /// The feed-forward output projection, before the residual and LayerNorm (slot 1 + layer).
    case feedForwardOutput = 3
    /// The pooled output, before the classifier (slot layers + 1).
    case classifierInput = 4
    /// The first token's hidden state before the head's dense layer (slot layers + 1): RoBERTa's, XLM-R's and
    /// ELECTRA's classification heads drop it out too.
    case classifierDenseInput = 5

    /// The stream: step in bits 24 and up, slot in bits 8...23, site in bits 0...7.
    static func stream(step: Int, slot: Int, _ site: DropoutSite) -> UInt64 {
        UInt64(step) << 24 | UInt64(slot) << 8 | site.rawValue
    }
}

/// The saved activations of a training forward pass and the backward pass's scratch, sized to the
/// largest batch seen and never shrunk. With M = B·T tokens, L layers, C hidden, I intermediate and
/// NH heads, a layer saves its input (M,C), QKV (M,3C), attention probabilities before dropout
/// (B,NH,T,T), context (M,C), the attention sum before LayerNorm (M,C) with its mean and rstd (M),
/// the LayerNorm output (M,C), the intermediate before and after GELU (M,I each) and the output sum
/// before LayerNorm (M,C) with its mean and rstd; see docs/FINETUNE.md for the total.
final class TrainingActivations {
    typealias Buffer = Workspace.Buffer
    /// (L+1, M, C): the input of each layer, then the last hidden state.
    var layerInputs = Buffer()
    /// (M, E) word + position (+ token type) embeddings, before LayerNorm, with its (M) mean and rstd.
    var embeddingSum = Buffer(), embeddingMean = Buffer(), embeddingRstd = Buffer()
    /// (M, E) the embeddings after LayerNorm and dropout, the projection's input (ELECTRA, ALBERT); its gradient.
    var embeddingNormed = Buffer(), dEmbedding = Buffer()
    /// (B, T) position ids of the families that count them from the padding index.
    var positionIds: [Int32] = []
    /// (B, C): the first token after the head's input dropout; the head's dense output before its activation.
    var clsDropped = Buffer(), pooledPreActivation = Buffer()
    /// Per layer (L, ...): see the type's comment.
    var qkv = Buffer(), probabilities = Buffer(), context = Buffer()
    var attentionSum = Buffer(), attentionMean = Buffer(), attentionRstd = Buffer(), attentionNormed = Buffer()
    var preActivation = Buffer(), activation = Buffer()
    var outputSum = Buffer(), outputMean = Buffer(), outputRstd = Buffer()
    /// (B, C) [CLS] rows, pooled output (tanh), pooled output after dropout; (B, NL) logits.
    var cls = Buffer(), pooled = Buffer(), pooledDropped = Buffer(), logits = Buffer()
    /// Backward scratch: (M,C) x 4, (M,I), (M,3C), (B,NL), (B,C) x 2.
    var dHidden = Buffer(), dResidual = Buffer(), dScratch = Buffer(), dContext = Buffer()
    var dIntermediate = Buffer(), dQKV = Buffer(), dLogits = Buffer(), dPooled = Buffer(), dCls = Buffer()
    /// Kernel workspaces: packed GEMM (forward), linear backward, attention forward and backward.
    var linearWorkspace = Buffer(), linearBackwardWorkspace = Buffer()
    var attentionWorkspace = Buffer(), attentionBackwardWorkspace = Buffer()

    func reserve(batch: Int, sequenceLength: Int, config: BertConfig) {
        let (c, i, l, nh) = (config.hiddenSize, config.intermediateSize, config.numHiddenLayers, config.numAttentionHeads)
        let (b, t) = (batch, sequenceLength)
        let m = b * t, labels = config.numLabels, e = config.embeddingSize
        layerInputs.reserve((l + 1) * m * c)
        embeddingSum.reserve(m * e); embeddingMean.reserve(m); embeddingRstd.reserve(m)
        if config.projectsEmbeddings { embeddingNormed.reserve(m * e); dEmbedding.reserve(m * e) }
        positionIds.reserveCapacity(m)
        if config.family != .bert { clsDropped.reserve(b * c); pooledPreActivation.reserve(b * c) }
        qkv.reserve(l * m * 3 * c)
        probabilities.reserve(l * b * nh * t * t)
        context.reserve(l * m * c)
        attentionSum.reserve(l * m * c); attentionMean.reserve(l * m); attentionRstd.reserve(l * m)
        attentionNormed.reserve(l * m * c)
        preActivation.reserve(l * m * i); activation.reserve(l * m * i)
        outputSum.reserve(l * m * c); outputMean.reserve(l * m); outputRstd.reserve(l * m)
        cls.reserve(b * c); pooled.reserve(b * c); pooledDropped.reserve(b * c); logits.reserve(b * labels)
        dHidden.reserve(m * c); dResidual.reserve(m * c); dScratch.reserve(m * c); dContext.reserve(m * c)
        dIntermediate.reserve(m * i); dQKV.reserve(m * 3 * c); dLogits.reserve(b * labels)
        dPooled.reserve(b * c); dCls.reserve(b * c)
        // Sized for the threads the kernels use now (a later increase grows them on the next step).
        let threads = Int32(Kernels.maxThreads)
        linearWorkspace.reserve(ck_linear_workspace_size(threads))
        let shapes = [(m, 3 * c, c), (m, c, c), (m, i, c), (m, c, i), (b, c, c), (b, labels, c), (m, c, e)]
        linearBackwardWorkspace.reserve(shapes.map {
            ck_linear_backward_workspace_size(Int32($0.0), Int32($0.1), Int32($0.2), threads)
        }.max()!)
        attentionWorkspace.reserve(ck_attention_train_workspace_size(Int32(t), Int32(config.headSize), threads))
        attentionBackwardWorkspace.reserve(ck_attention_backward_workspace_size(Int32(t), Int32(config.headSize), threads))
        reservedFor = (batch, sequenceLength, Int(threads))
    }

    /// The largest batch, length and thread count reserved so far.
    private(set) var reservedFor = (batch: 0, sequenceLength: 0, threads: 0)

    func ensure(batch: Int, sequenceLength: Int, config: BertConfig) {
        let current = reservedFor
        if batch <= current.batch && sequenceLength <= current.sequenceLength && Kernels.maxThreads <= current.threads {
            return
        }
        reserve(batch: max(batch, current.batch), sequenceLength: max(sequenceLength, current.sequenceLength), config: config)
    }
}

extension SequenceClassifierTrainer {
    // MARK: - Forward and backward

    /// Runs the training forward pass on `batch` (dropout masks of optimizer step `step` when
    /// `dropout`) and, when `backward`, the backward pass: `gradients` then hold d loss / d parameter
    /// (overwritten, not accumulated). Returns the mean loss.
    func computeGradients(_ batch: Batch, targets: TrainingTargets, step: Int, dropout: Bool,
                          backward: Bool = true) throws -> Double {
        try pass(batch, targets: targets, step: step, dropout: dropout, gates: nil) { shape in
            if backward { self.backward(shape, gateGradients: nil) }
        }
    }

    /// d loss(x) / d ξ for every example x, layer and head, where ξ is a gate multiplying the head's context before
    /// the output projection (1 for a kept head; `gates` (L·NH) gives each head's gate, 0 for a removed one, nil all
    /// 1), with dropout off: (B, L, NH) values into `result`, and the mean loss. The backward stops at layer 0's
    /// context and computes no parameter gradient.
    func headGateGradients(_ batch: Batch, targets: TrainingTargets, gates: [Float]?, into result: inout [Float]) throws -> Double {
        let (l, nh, b) = (layout.layers.count, config.numAttentionHeads, batch.size)
        if let gates, gates.count != l * nh {
            throw BertologyError.usage("\(gates.count) head gates for a model of \(l) layers x \(nh) heads")
        }
        var byLayer = [Float](repeating: 0, count: l * b * nh)
        let loss = try byLayer.withUnsafeMutableBufferPointer { out in
            try withOptionalPointer(gates) { gatePointer in
                try pass(batch, targets: targets, step: 0, dropout: false, gates: gatePointer) { shape in
                    self.backward(shape, gateGradients: out.baseAddress!)
                }
            }
        }
        // (L, B, NH) → (B, L, NH).
        result = [Float](repeating: 0, count: b * l * nh)
        for layer in 0..<l {
            for example in 0..<b {
                for head in 0..<nh { result[(example * l + layer) * nh + head] = byLayer[(layer * b + example) * nh + head] }
            }
        }
        return loss
    }

    /// Checks the batch and targets, runs the forward on them, the loss and its gradient, then `backward`.
    private func pass(_ batch: Batch, targets: TrainingTargets, step: Int, dropout: Bool, gates: UnsafePointer<Float>?,
                      _ backward: (PassShape) -> Void) throws -> Double {
        try batch.validate(for: config)
        try validate(targets, batchSize: batch.size)
        activations.ensure(batch: batch.size, sequenceLength: batch.sequenceLength, config: config)
        return batch.inputIds.withUnsafeBufferPointer { ids in
            batch.tokenTypeIds.withUnsafeBufferPointer { types in
                batch.lengths.withUnsafeBufferPointer { lengths in
                    let shape = PassShape(batch: batch.size, tokens: batch.sequenceLength, step: step, dropout: dropout,
                                          ids: ids.baseAddress!, types: types.baseAddress!, lengths: lengths.baseAddress!,
                                          gates: gates)
                    forward(shape)
                    let loss = lossAndGradient(targets, shape)
                    backward(shape)
                    return loss
                }
            }
        }
    }

    private func withOptionalPointer<R>(_ values: [Float]?, _ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
        guard let values else { return try body(nil) }
        return try values.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    private func validate(_ targets: TrainingTargets, batchSize: Int) throws {
        switch targets {
        case .classes(let labels):
            guard numLabels > 1 else {
                throw BertologyError.usage("a regression model (num_labels 1) trains on scores, not class labels")
            }
            guard labels.count == batchSize else {
                throw BertologyError.usage("\(labels.count) labels for a batch of \(batchSize) examples")
            }
            if let bad = labels.first(where: { $0 < 0 || Int($0) >= numLabels }) {
                throw BertologyError.usage("label \(bad) is outside 0..<\(numLabels)")
            }
        case .scores(let scores):
            guard numLabels == 1 else {
                throw BertologyError.usage("a classifier with \(numLabels) labels trains on class labels, not scores")
            }
            guard scores.count == batchSize else {
                throw BertologyError.usage("\(scores.count) scores for a batch of \(batchSize) examples")
            }
        }
    }

    /// The sizes and inputs of one pass.
    struct PassShape {
        let batch: Int, tokens: Int, step: Int, dropout: Bool
        let ids: UnsafePointer<Int32>, types: UnsafePointer<Int32>, lengths: UnsafePointer<Int32>
        /// (L, NH) head gates multiplying each head's context (nil: all 1).
        let gates: UnsafePointer<Float>?
        var rows: Int { batch * tokens }
    }


    private func dropoutProbability(_ p: Float, _ shape: PassShape) -> Float { shape.dropout ? p : 0 }

    /// The head's activation (the pooler's tanh, ELECTRA's GELU, DistilBERT's ReLU).
    private var headActivation: Activation { FamilyWeightNames(family: config.family).headDense.activation }

    /// The head's dense layer's input: the first token's hidden state, dropped out first by the families whose
    /// head does it (`dropoutP`: apply the dropout now; nil: the buffer the forward filled).
    private func headInput(_ shape: PassShape, _ dropoutP: Float?) -> UnsafeMutablePointer<Float> {
        let a = activations
        guard config.family.dropsHeadInput else { return a.cls.pointer }
        if let p = dropoutP {
            let n = shape.batch * config.hiddenSize
            if p > 0 {
                ck_dropout_forward(a.clsDropped.pointer, a.cls.pointer, n, p, seed,
                                   DropoutSite.stream(step: shape.step, slot: layout.layers.count + 1, .classifierDenseInput), 0)
            } else {
                a.clsDropped.pointer.update(from: a.cls.pointer, count: n)
            }
        }
        return a.clsDropped.pointer
    }

    /// `parameters` false: d input only (the head-gate backward computes no parameter gradient).
    private func linearBackward(_ dInput: UnsafeMutablePointer<Float>?, weight: Int, bias: Int, dOutput: UnsafePointer<Float>,
                                input: UnsafePointer<Float>, rows: Int, outputs: Int, inputs: Int, parameters wanted: Bool = true) {
        ck_linear_backward(dInput, wanted ? gradients.pointer + weight : nil, wanted ? gradients.pointer + bias : nil,
                           dOutput, input,
                           parameters.pointer + weight, Int32(rows), Int32(outputs), Int32(inputs),
                           activations.linearBackwardWorkspace.pointer, activations.linearBackwardWorkspace.capacity)
    }

    /// Layer group `weights`' operands on the packed arena.
    private func operands(_ weights: ParameterLayout.Layer, _ packedLayer: PackedLayout.Layer) -> LayerOperands {
        let p = parameters.pointer, w = packed.pointer
        let (c, i) = (config.hiddenSize, config.intermediateSize)
        func linear(_ offset: Int, _ bias: Int, _ n: Int, _ k: Int) -> LinearOperand {
            LinearOperand(packed: w + offset, bias: p + bias, outputs: n, inputs: k)
        }
        return LayerOperands(qkv: linear(packedLayer.qkv, weights.qkvBias, 3 * c, c),
                             attentionOutput: linear(packedLayer.attentionOutput, weights.attentionOutputBias, c, c),
                             intermediate: linear(packedLayer.intermediate, weights.intermediateBias, i, c),
                             output: linear(packedLayer.output, weights.outputBias, c, i),
                             attentionNorm: (UnsafePointer(p + weights.attentionNormWeight), UnsafePointer(p + weights.attentionNormBias)),
                             outputNorm: (UnsafePointer(p + weights.outputNormWeight), UnsafePointer(p + weights.outputNormBias)))
    }

    /// The training forward: the steps of the inference pass (`EncoderStep`) in their training mode (dropout,
    /// every value the backward reads saved), then the family's head.
    private func forward(_ shape: PassShape) {
        let a = activations
        let (c, i, nh) = (config.hiddenSize, config.intermediateSize, config.numAttentionHeads)
        let (b, t, m) = (shape.batch, shape.tokens, shape.rows)
        let p = parameters.pointer
        let mc = m * c, mi = m * i
        let dropout = EncoderStep.Dropout(hidden: dropoutProbability(hiddenDropout, shape),
                                          attention: dropoutProbability(attentionDropout, shape), seed: seed, step: shape.step)
        let workspaces = EncoderStep.Workspaces(linear: a.linearWorkspace.pointer, linearFloats: a.linearWorkspace.capacity,
                                                attention: a.attentionWorkspace.pointer,
                                                attentionFloats: a.attentionWorkspace.capacity)

        // Embeddings: sum (saved), LayerNorm (mean, rstd saved), dropout → input of layer 0, through the
        // projection when the family has one (the projection's input saved).
        let projection = layout.embeddingProjection.map {
            LinearOperand(packed: packed.pointer + packedLayout.embeddingProjection!, bias: p + $0.bias, outputs: c,
                          inputs: config.embeddingSize)
        }
        EncoderStep.embed(config, word: p + layout.wordEmbeddings, position: p + layout.positionEmbeddings,
                          tokenType: layout.tokenTypeEmbeddings.map { UnsafePointer(p + $0) },
                          normWeight: p + layout.embeddingNormWeight, normBias: p + layout.embeddingNormBias,
                          projection: projection, ids: shape.ids, types: shape.types, lengths: shape.lengths, batch: b,
                          tokens: t, positionIds: &a.positionIds,
                          embedded: projection == nil ? nil : a.embeddingNormed.pointer, hidden: a.layerInputs.pointer,
                          saves: EncoderStep.EmbeddingSaves(sum: a.embeddingSum.pointer, mean: a.embeddingMean.pointer,
                                                            rstd: a.embeddingRstd.pointer),
                          dropout: dropout, workspaces)

        for l in 0..<layout.layers.count {
            let layer = operands(layout.layers[l], packedLayout.layers[l])
            let input = a.layerInputs.pointer + l * mc
            let saves = EncoderStep.LayerSaves(
                probabilities: a.probabilities.pointer + l * b * nh * t * t,
                attentionSum: a.attentionSum.pointer + l * mc, attentionMean: a.attentionMean.pointer + l * m,
                attentionRstd: a.attentionRstd.pointer + l * m, preActivation: a.preActivation.pointer + l * mi,
                outputSum: a.outputSum.pointer + l * mc, outputMean: a.outputMean.pointer + l * m,
                outputRstd: a.outputRstd.pointer + l * m)
            EncoderStep.attend(config, layer, index: l, input: input, qkv: a.qkv.pointer + l * 3 * mc,
                               context: a.context.pointer + l * mc, lengths: shape.lengths, batch: b, tokens: t, modes: nil,
                               probabilities: nil, terms: 0, saves: saves, dropout: dropout, workspaces)
            if let gates = shape.gates { ck_scale_heads(a.context.pointer + l * mc, gates + l * nh, Int32(m), Int32(nh), Int32(config.headSize)) }
            EncoderStep.finish(config, layer, index: l, rows: m, context: a.context.pointer + l * mc, residual: input,
                               normed: a.attentionNormed.pointer + l * mc, activated: a.activation.pointer + l * mi,
                               output: a.layerInputs.pointer + (l + 1) * mc, saves: saves, dropout: dropout, workspaces)
        }

        // The head on the first token: BERT's and ALBERT's pooler (tanh of a dense layer), dropout, classifier;
        // RoBERTa's, XLM-R's and ELECTRA's dropout first, then dense + tanh/GELU, dropout, out_proj; DistilBERT's
        // pre_classifier + ReLU, dropout, classifier.
        let last = a.layerInputs.pointer + layout.layers.count * mc
        for example in 0..<b { (a.cls.pointer + example * c).update(from: last + example * t * c, count: c) }
        let classifierP = dropoutProbability(classifierDropout, shape)
        let headInput = headInput(shape, classifierP)
        ck_linear_forward(a.pooled.pointer, headInput, p + layout.poolerWeight, p + layout.poolerBias,
                          Int32(b), Int32(c), Int32(c))
        switch headActivation {
        case .tanh: ck_tanh_forward(a.pooled.pointer, a.pooled.pointer, b * c)
        case let activation:
            a.pooledPreActivation.pointer.update(from: a.pooled.pointer, count: b * c)
            ck_activation_forward(a.pooled.pointer, a.pooled.pointer, b * c, activation.kernelValue)
        }
        if classifierP > 0 {
            ck_dropout_forward(a.pooledDropped.pointer, a.pooled.pointer, b * c, classifierP, seed,
                               DropoutSite.stream(step: shape.step, slot: layout.layers.count + 1, .classifierInput), 0)
        } else {
            a.pooledDropped.pointer.update(from: a.pooled.pointer, count: b * c)
        }
        ck_linear_forward(a.logits.pointer, a.pooledDropped.pointer, p + layout.classifierWeight, p + layout.classifierBias,
                          Int32(b), Int32(numLabels), Int32(c))
    }

    /// The mean loss (cross-entropy, or mean squared error for one label) and d loss / d logits.
    private func lossAndGradient(_ targets: TrainingTargets, _ shape: PassShape) -> Double {
        let a = activations
        switch targets {
        case .classes(let labels):
            return labels.withUnsafeBufferPointer {
                ck_cross_entropy_forward_backward(a.dLogits.pointer, a.logits.pointer, $0.baseAddress!,
                                                  Int32(shape.batch), Int32(numLabels))
            }
        case .scores(let scores):
            return scores.withUnsafeBufferPointer {
                ck_mse_forward_backward(a.dLogits.pointer, a.logits.pointer, $0.baseAddress!, Int32(shape.batch))
            }
        }
    }

    /// The backward pass: every parameter's gradient into `gradients`, or, with `gateGradients` ((L, B, NH) values),
    /// d loss(x) / d ξ per example, layer and head (see ``headGateGradients(_:targets:gates:into:)``), no parameter
    /// gradient, and nothing below layer 0's context.
    private func backward(_ shape: PassShape, gateGradients: UnsafeMutablePointer<Float>?) {
        let a = activations
        let params = gateGradients == nil
        let (c, i, nh, hs) = (config.hiddenSize, config.intermediateSize, config.numAttentionHeads, config.headSize)
        let (b, t, m) = (shape.batch, shape.tokens, shape.rows)
        let p = parameters.pointer, g = gradients.pointer
        let hiddenP = dropoutProbability(hiddenDropout, shape), attentionP = dropoutProbability(attentionDropout, shape)
        let mc = m * c, mi = m * i
        let dHidden = a.dHidden.pointer, dResidual = a.dResidual.pointer, dScratch = a.dScratch.pointer
        if params { g.update(repeating: 0, count: layout.floatCount) }
        // LayerNorm weight and bias gradients, when parameters' gradients are wanted.
        func norm(_ offset: Int) -> UnsafeMutablePointer<Float>? { params ? g + offset : nil }

        // Classifier, dropout, tanh, pooler.
        linearBackward(a.dPooled.pointer, weight: layout.classifierWeight, bias: layout.classifierBias,
                       dOutput: a.dLogits.pointer, input: a.pooledDropped.pointer, rows: b, outputs: numLabels, inputs: c,
                       parameters: params)
        let classifierP = dropoutProbability(classifierDropout, shape)
        if classifierP > 0 {
            ck_dropout_backward(a.dPooled.pointer, a.dPooled.pointer, b * c, classifierP, seed,
                                DropoutSite.stream(step: shape.step, slot: layout.layers.count + 1, .classifierInput), 0)
        }
        if headActivation == .tanh {
            ck_tanh_backward(a.dPooled.pointer, a.dPooled.pointer, a.pooled.pointer, b * c)
        } else {
            ck_activation_backward(a.dPooled.pointer, a.dPooled.pointer, a.pooledPreActivation.pointer, b * c,
                                   headActivation.kernelValue)
        }
        linearBackward(a.dCls.pointer, weight: layout.poolerWeight, bias: layout.poolerBias, dOutput: a.dPooled.pointer,
                       input: headInput(shape, nil), rows: b, outputs: c, inputs: c, parameters: params)
        if config.family.dropsHeadInput && classifierP > 0 {
            ck_dropout_backward(a.dCls.pointer, a.dCls.pointer, b * c, classifierP, seed,
                                DropoutSite.stream(step: shape.step, slot: layout.layers.count + 1, .classifierDenseInput), 0)
        }
        dHidden.update(repeating: 0, count: mc)
        for example in 0..<b { (dHidden + example * t * c).update(from: a.dCls.pointer + example * c, count: c) }

        for l in stride(from: layout.layers.count - 1, through: 0, by: -1) {
            let weights = layout.layers[l]
            let input = a.layerInputs.pointer + l * mc
            let qkv = a.qkv.pointer + l * 3 * mc, probabilities = a.probabilities.pointer + l * b * nh * t * t
            let context = a.context.pointer + l * mc
            let attentionSum = a.attentionSum.pointer + l * mc, normed = a.attentionNormed.pointer + l * mc
            let preActivation = a.preActivation.pointer + l * mi, activation = a.activation.pointer + l * mi
            let outputSum = a.outputSum.pointer + l * mc

            // Output LayerNorm: dHidden → d(outputSum); the residual branch carries it to `normed`.
            ck_layernorm_backward(dScratch, norm(weights.outputNormWeight), norm(weights.outputNormBias), dHidden, outputSum,
                                  a.outputMean.pointer + l * m, a.outputRstd.pointer + l * m, p + weights.outputNormWeight,
                                  Int32(m), Int32(c))
            dResidual.update(from: dScratch, count: mc)
            if hiddenP > 0 {
                ck_dropout_backward(dScratch, dScratch, mc, hiddenP, seed,
                                    DropoutSite.stream(step: shape.step, slot: 1 + l, .feedForwardOutput), 0)
            }
            linearBackward(a.dIntermediate.pointer, weight: weights.outputWeight, bias: weights.outputBias,
                           dOutput: dScratch, input: activation, rows: m, outputs: c, inputs: i, parameters: params)
            if config.activation == .gelu {
                ck_gelu_backward(a.dIntermediate.pointer, a.dIntermediate.pointer, preActivation, mi)
            } else {
                ck_activation_backward(a.dIntermediate.pointer, a.dIntermediate.pointer, preActivation, mi,
                                       config.activation.kernelValue)
            }
            linearBackward(dScratch, weight: weights.intermediateWeight, bias: weights.intermediateBias,
                           dOutput: a.dIntermediate.pointer, input: normed, rows: m, outputs: i, inputs: c, parameters: params)
            ck_add(dResidual, dResidual, dScratch, mc)

            // Attention LayerNorm: d(normed) → d(attentionSum); the residual carries it to the layer input.
            ck_layernorm_backward(dScratch, norm(weights.attentionNormWeight), norm(weights.attentionNormBias), dResidual,
                                  attentionSum, a.attentionMean.pointer + l * m, a.attentionRstd.pointer + l * m,
                                  p + weights.attentionNormWeight, Int32(m), Int32(c))
            dHidden.update(from: dScratch, count: mc)
            if hiddenP > 0 {
                ck_dropout_backward(dScratch, dScratch, mc, hiddenP, seed,
                                    DropoutSite.stream(step: shape.step, slot: 1 + l, .attentionOutput), 0)
            }
            linearBackward(a.dContext.pointer, weight: weights.attentionOutputWeight, bias: weights.attentionOutputBias,
                           dOutput: dScratch, input: context, rows: m, outputs: c, inputs: c, parameters: params)
            if let gates = shape.gates {
                // A removed head's context is 0 (gate 0): no gradient flows into its probabilities or Q, K, V.
                ck_scale_heads(a.dContext.pointer, gates + l * nh, Int32(m), Int32(nh), Int32(hs))
            }
            if let gateGradients {
                // Per example: the mean loss's gradient times B is the example's own loss's (examples are independent).
                ck_head_gate_gradients(gateGradients + l * b * nh, a.dContext.pointer, context, Int32(b), Int32(t), Int32(nh),
                                       Int32(hs), Float(b))
                if l == 0 { return }
            }
            ck_attention_backward(a.dQKV.pointer, a.dContext.pointer, qkv, probabilities, shape.lengths,
                                  Int32(b), Int32(t), Int32(nh), Int32(hs), config.attentionScale, attentionP, seed,
                                  DropoutSite.stream(step: shape.step, slot: 1 + l, .attentionProbabilities),
                                  a.attentionBackwardWorkspace.pointer, a.attentionBackwardWorkspace.capacity)
            linearBackward(dScratch, weight: weights.qkvWeight, bias: weights.qkvBias, dOutput: a.dQKV.pointer,
                           input: input, rows: m, outputs: 3 * c, inputs: c, parameters: params)
            ck_add(dHidden, dHidden, dScratch, mc)
        }

        // Embeddings: the projection (ELECTRA, ALBERT), dropout, LayerNorm, scatter-add into the tables.
        let e = config.embeddingSize
        var dEmbedded = dHidden
        if let projection = layout.embeddingProjection {
            dEmbedded = a.dEmbedding.pointer
            linearBackward(dEmbedded, weight: projection.weight, bias: projection.bias, dOutput: dHidden,
                           input: a.embeddingNormed.pointer, rows: m, outputs: c, inputs: e)
        }
        if hiddenP > 0 {
            ck_dropout_backward(dEmbedded, dEmbedded, m * e, hiddenP, seed, DropoutSite.stream(step: shape.step, slot: 0, .embeddings), 0)
        }
        // d of the LayerNorm's input: dScratch holds M x C floats, and E <= C (BertConfig refuses a wider embedding).
        let dSum = dScratch
        ck_layernorm_backward(dSum, g + layout.embeddingNormWeight, g + layout.embeddingNormBias, dEmbedded,
                              a.embeddingSum.pointer, a.embeddingMean.pointer, a.embeddingRstd.pointer,
                              p + layout.embeddingNormWeight, Int32(m), Int32(e))
        EncoderStep.withPositionIds(config, lengths: shape.lengths, batch: b, tokens: t, &a.positionIds) { positions in
            ck_embeddings_backward_positions(g + layout.wordEmbeddings, g + layout.positionEmbeddings,
                                             layout.tokenTypeEmbeddings.map { g + $0 }, dSum, shape.ids,
                                             config.family.usesTokenTypes ? shape.types : nil, positions,
                                             Int32(b), Int32(t), Int32(e))
        }
    }

    // MARK: - Clipping and AdamW

    /// Σ g² over every gradient, in double, in a fixed order (the same on any thread count).
    func gradientSquares() -> Double { ck_sum_squares(gradients.pointer, layout.floatCount) }

    /// torch.nn.utils.clip_grad_norm_: coef = max_norm / (total_norm + 1e-6), in float32 as torch
    /// computes it, applied when below 1 (torch multiplies by min(coef, 1); times 1 changes nothing).
    func clipGradients(norm: Double, maxNorm: Float) {
        let coefficient = maxNorm / (Float(norm) + 1e-6)
        if coefficient < 1 { ck_scale(gradients.pointer, layout.floatCount, coefficient) }
    }

    /// torch.optim.AdamW on every tensor, weight decay on the decay group only. ``step`` already
    /// counts this update (bias correction uses it).
    func applyAdamW(learningRate: Float, options: AdamWOptions) {
        let h = hyperparameters(options)
        for entry in layout.entries {
            ck_adamw_step(parameters.pointer + entry.offset, gradients.pointer + entry.offset,
                          firstMoments.pointer + entry.offset, secondMoments.pointer + entry.offset, entry.count,
                          Double(learningRate), h.beta1, h.beta2, h.eps, entry.decays ? h.weightDecay : 0, Int64(step))
        }
    }

    /// The options as the doubles torch computes with. torch's hyper-parameters are Python floats, and
    /// 1 − Double(Float(0.999)) misses 0.001 by 1.3e-5 of itself, which moves exp_avg_sq off torch's;
    /// so each Float becomes the double of its shortest decimal form ("0.999" → 0.999), the number the
    /// user wrote. Converted once per distinct options (the conversion allocates a string), then cached.
    private func hyperparameters(_ options: AdamWOptions) -> AdamWHyperparameters {
        if let cached = adamWCache, cached.options == options { return cached.values }
        func decimal(_ x: Float) -> Double { Double(x.description) ?? Double(x) }
        let values = AdamWHyperparameters(beta1: decimal(options.beta1), beta2: decimal(options.beta2),
                                          eps: decimal(options.eps), weightDecay: decimal(options.weightDecay))
        adamWCache = (options, values)
        return values
    }
}

/// AdamW's hyper-parameters in double precision (see `hyperparameters(_:)`).
struct AdamWHyperparameters {
    let beta1: Double, beta2: Double, eps: Double, weightDecay: Double
}
