internal import CKernels
import Foundation

/// A packed nn.Linear as the forward kernels take it: the fp32 panels, the bf16 pair panels in a bf16
/// precision or the int8 pack in int8, and the bias. Built on the fly from an inference model's weights or a trainer's arenas (a
/// struct of pointers: nothing is allocated).
struct LinearOperand {
    let packed: UnsafePointer<Float>
    /// The bf16 pair panels and their terms (1 or 3) in a bf16 precision; nil in fp32 and int8.
    let bf16: (words: UnsafePointer<UInt32>, terms: Int32)?
    /// The int8 panels, scales and sums in int8; nil otherwise.
    var int8: UnsafePointer<UInt32>? = nil
    let outputs: Int, inputs: Int
    let bias: UnsafePointer<Float>

    init(_ weight: PackedWeight, bias: Tensor) {
        packed = weight.pointer
        bf16 = weight.precision == .fp32 || weight.precision == .int8 ? nil : (weight.reducedPackPointer, weight.precision.terms)
        int8 = weight.precision == .int8 ? weight.reducedPackPointer : nil
        outputs = weight.outputs
        inputs = weight.inputs
        self.bias = bias.pointer
    }

    init(packed: UnsafePointer<Float>, bias: UnsafePointer<Float>, outputs: Int, inputs: Int) {
        self.packed = packed
        bf16 = nil
        self.outputs = outputs
        self.inputs = inputs
        self.bias = bias
    }
}

/// One encoder layer's parameters as the forward kernels take them.
struct LayerOperands {
    let qkv: LinearOperand, attentionOutput: LinearOperand, intermediate: LinearOperand, output: LinearOperand
    let attentionNormWeight: UnsafePointer<Float>, attentionNormBias: UnsafePointer<Float>
    let outputNormWeight: UnsafePointer<Float>, outputNormBias: UnsafePointer<Float>

    init(_ layer: LayerWeights) {
        qkv = LinearOperand(layer.qkvWeight, bias: layer.qkvBias)
        attentionOutput = LinearOperand(layer.attentionOutputWeight, bias: layer.attentionOutputBias)
        intermediate = LinearOperand(layer.intermediateWeight, bias: layer.intermediateBias)
        output = LinearOperand(layer.outputWeight, bias: layer.outputBias)
        attentionNormWeight = layer.attentionNormWeight.pointer
        attentionNormBias = layer.attentionNormBias.pointer
        outputNormWeight = layer.outputNormWeight.pointer
        outputNormBias = layer.outputNormBias.pointer
    }

    init(qkv: LinearOperand, attentionOutput: LinearOperand, intermediate: LinearOperand, output: LinearOperand,
         attentionNorm: (UnsafePointer<Float>, UnsafePointer<Float>), outputNorm: (UnsafePointer<Float>, UnsafePointer<Float>)) {
        self.qkv = qkv
        self.attentionOutput = attentionOutput
        self.intermediate = intermediate
        self.output = output
        (attentionNormWeight, attentionNormBias) = attentionNorm
        (outputNormWeight, outputNormBias) = outputNorm
    }
}

/// The one forward pass of every family, step by step: the embeddings and each layer's attention and the rest of
/// it. `InferenceSession` (inference, the partial forward, ablation sweeps) and the fine-tuning trainer both run
/// these steps; the family is data (`BertConfig`: positions, token types, projection, activation). A step runs
/// in one of two modes:
/// - inference: the linear layers' epilogues fuse bias, GELU, residual and LayerNorm; the attention takes the
///   head interventions and hands its probabilities to an observer;
/// - training (`Training` given): dropout where the family puts it, and everything the backward reads saved
///   (the pre-LayerNorm sums with their mean and rstd, the probabilities before dropout, the activation's input),
///   so the residual and LayerNorm run as their own kernels (`ck_add`, `ck_layernorm_forward_train`, whose output
///   bits are `ck_layernorm_forward`'s).
enum EncoderStep {
    /// Kernel scratch: the packed GEMM's and attention's workspaces.
    struct Workspaces {
        let linear: UnsafeMutablePointer<Float>, linearFloats: Int
        let attention: UnsafeMutablePointer<Float>, attentionFloats: Int
    }

    /// Dropout in a training pass: the probabilities, the seed, and the optimizer step whose masks are drawn.
    struct Dropout {
        let hidden: Float, attention: Float
        let seed: UInt64, step: Int
    }

    /// What a training pass saves of the embeddings: (M,E) sum before LayerNorm, (M) mean and rstd.
    struct EmbeddingSaves {
        let sum: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>
    }

    /// What a training pass saves of one layer (layer l's slices of the trainer's activations).
    struct LayerSaves {
        let probabilities: UnsafeMutablePointer<Float>  // (B,NH,T,T), before dropout
        let attentionSum: UnsafeMutablePointer<Float>, attentionMean: UnsafeMutablePointer<Float>
        let attentionRstd: UnsafeMutablePointer<Float>
        let preActivation: UnsafeMutablePointer<Float>  // (M,I)
        let outputSum: UnsafeMutablePointer<Float>, outputMean: UnsafeMutablePointer<Float>
        let outputRstd: UnsafeMutablePointer<Float>
    }

    /// out (rows, N) = epilogue(inp · weightᵀ) on the packed weight, in its precision.
    static func linear(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ weight: LinearOperand,
                       rows: Int, _ epilogue: ck_linear_epilogue, _ workspaces: Workspaces) {
        withUnsafePointer(to: epilogue) { epiloguePointer in
            if let int8 = weight.int8 {
                ck_linear_int8_forward(out, inp, int8, epiloguePointer, Int32(rows), Int32(weight.outputs), Int32(weight.inputs),
                                       workspaces.linear, workspaces.linearFloats)
            } else if let bf16 = weight.bf16 {
                ck_linear_bf16_forward(out, inp, bf16.words, bf16.terms, epiloguePointer, Int32(rows), Int32(weight.outputs),
                                       Int32(weight.inputs), workspaces.linear, workspaces.linearFloats)
            } else {
                ck_linear_packed_forward(out, inp, weight.packed, epiloguePointer, Int32(rows), Int32(weight.outputs),
                                         Int32(weight.inputs), workspaces.linear, workspaces.linearFloats)
            }
        }
    }

    /// The (B,T) position ids of a right-padded batch: nil for 0..T-1; RoBERTa's and XLM-R's count from the padding
    /// index (padding index + 1 + t for a real token, the padding index for padding), as transformers counts them.
    /// `ids` is reused (no allocation once it has grown).
    static func withPositionIds(_ config: BertConfig, lengths: UnsafePointer<Int32>, batch: Int, tokens: Int,
                                _ ids: inout [Int32], _ body: (UnsafePointer<Int32>?) -> Void) {
        guard let offset = config.family.positionOffset(padTokenId: config.padTokenId) else { return body(nil) }
        ids.removeAll(keepingCapacity: true)
        for example in 0..<batch {
            let length = Int(lengths[example])
            for slot in 0..<tokens { ids.append(Int32(slot < length ? offset + slot : config.padTokenId)) }
        }
        ids.withUnsafeBufferPointer { body($0.baseAddress) }
    }

    /// (B,T,C) `hidden` = the embeddings: word + position (+ token type) rows, LayerNorm, (training: dropout), and
    /// the projection to the hidden width when the family has one (`embedded`, (B,T,E), holds its input).
    static func embed(_ config: BertConfig, word: UnsafePointer<Float>, position: UnsafePointer<Float>,
                      tokenType: UnsafePointer<Float>?, normWeight: UnsafePointer<Float>, normBias: UnsafePointer<Float>,
                      projection: LinearOperand?, ids: UnsafePointer<Int32>, types: UnsafePointer<Int32>,
                      lengths: UnsafePointer<Int32>, batch b: Int, tokens t: Int, positionIds: inout [Int32],
                      embedded: UnsafeMutablePointer<Float>?, hidden: UnsafeMutablePointer<Float>,
                      saves: EmbeddingSaves?, dropout: Dropout?, _ workspaces: Workspaces) {
        let e = config.embeddingSize, m = b * t
        let normed = projection == nil ? hidden : embedded!
        // Inference sums in place; training keeps the sum for the LayerNorm's backward.
        let sum = saves?.sum ?? normed
        withPositionIds(config, lengths: lengths, batch: b, tokens: t, &positionIds) { positions in
            ck_embeddings_forward_positions(sum, ids, config.family.usesTokenTypes ? types : nil, positions, word, position,
                                            tokenType, Int32(b), Int32(t), Int32(e))
        }
        if let saves {
            ck_layernorm_forward_train(normed, saves.mean, saves.rstd, sum, normWeight, normBias, Int32(m), Int32(e),
                                       config.layerNormEps)
        } else {
            ck_layernorm_forward(normed, normed, normWeight, normBias, Int32(m), Int32(e), config.layerNormEps)
        }
        if let dropout, dropout.hidden > 0 {
            ck_dropout_forward(normed, normed, m * e, dropout.hidden, dropout.seed,
                               DropoutSite.stream(step: dropout.step, slot: 0, .embeddings), 0)
        }
        if let projection { linear(hidden, normed, projection, rows: m, ck_linear_epilogue(bias: projection.bias), workspaces) }
    }

    /// Layer `index`'s attention step on `input` (B,T,C): (B,T,3C) `qkv`, then (B,T,C) `context`. Inference: the
    /// per-head `modes` (nil: all kept) and the probabilities into `probabilities` (B,NH,T,T) when given, Q, K and V
    /// rounded first in a bf16 precision (`terms`). Training: dropout on the probabilities, saved before dropout.
    static func attend(_ config: BertConfig, _ layer: LayerOperands, index: Int, input: UnsafePointer<Float>,
                       qkv: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>, lengths: UnsafePointer<Int32>,
                       batch b: Int, tokens t: Int, modes: UnsafePointer<Int32>?, probabilities: UnsafeMutablePointer<Float>?,
                       terms: Int32, saves: LayerSaves?, dropout: Dropout?, _ workspaces: Workspaces) {
        let (nh, hs) = (config.numAttentionHeads, config.headSize)
        linear(qkv, input, layer.qkv, rows: b * t, ck_linear_epilogue(bias: layer.qkv.bias), workspaces)
        let scale = config.attentionScale
        if let saves {
            ck_attention_forward_train(context, saves.probabilities, qkv, lengths, Int32(b), Int32(t), Int32(nh), Int32(hs),
                                       scale, dropout?.attention ?? 0, dropout?.seed ?? 0,
                                       DropoutSite.stream(step: dropout?.step ?? 0, slot: 1 + index, .attentionProbabilities),
                                       workspaces.attention, workspaces.attentionFloats)
            return
        }
        // In a bf16 precision Q, K and V are attention's operands: rounded once, here, so that the kept heads (QKᵀ,
        // PV) and the changed ones (the mean of V; ablation sweeps patch them with ck_attention_fixed_heads from this
        // buffer) see the same values.
        if terms != 0 { ck_round_bf16(qkv, b * t * 3 * config.hiddenSize, terms) }
        ck_attention_forward_bf16(context, probabilities, qkv, lengths, modes, Int32(b), Int32(t), Int32(nh), Int32(hs), scale,
                                  workspaces.attention, workspaces.attentionFloats, terms)
    }

    /// The rest of layer `index` for `rows` tokens: the attention output (dense + bias, residual `residual`,
    /// LayerNorm) into `normed` (M,C), the feed-forward's dense + activation into `activated` (M,I), then dense +
    /// bias + residual `normed` + LayerNorm into `output` (M,C). `residual` is the layer's input; it may be
    /// `output` (read before `output` is written).
    static func finish(_ config: BertConfig, _ layer: LayerOperands, index: Int, rows: Int, context: UnsafePointer<Float>,
                       residual: UnsafePointer<Float>, normed: UnsafeMutablePointer<Float>,
                       activated: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>,
                       saves: LayerSaves?, dropout: Dropout?, _ workspaces: Workspaces) {
        let eps = config.layerNormEps, activation = config.activation
        let (c, i) = (config.hiddenSize, layer.intermediate.outputs)
        guard let saves else {
            // Inference: one GEMM each, with bias, GELU, residual and LayerNorm in the epilogue.
            linear(normed, context, layer.attentionOutput, rows: rows,
                   ck_linear_epilogue(bias: layer.attentionOutput.bias, residual: residual,
                                      normWeight: layer.attentionNormWeight, normBias: layer.attentionNormBias, eps: eps),
                   workspaces)
            // The exact GELU runs in the GEMM's epilogue; another activation (ALBERT's gelu_new, relu) right after it.
            linear(activated, normed, layer.intermediate, rows: rows,
                   ck_linear_epilogue(bias: layer.intermediate.bias, gelu: activation == .gelu), workspaces)
            if activation != .gelu { ck_activation_forward(activated, activated, rows * i, activation.kernelValue) }
            linear(output, activated, layer.output, rows: rows,
                   ck_linear_epilogue(bias: layer.output.bias, residual: normed,
                                      normWeight: layer.outputNormWeight, normBias: layer.outputNormBias, eps: eps),
                   workspaces)
            return
        }
        // Training: LayerNorm(dropout(dense(context)) + input), the activation's input kept, then
        // LayerNorm(dropout(dense(activated)) + normed), each sum with its mean and rstd saved.
        let (mc, hidden) = (rows * c, dropout?.hidden ?? 0)
        func drop(_ x: UnsafeMutablePointer<Float>, _ site: DropoutSite) {
            guard let dropout, hidden > 0 else { return }
            ck_dropout_forward(x, x, mc, hidden, dropout.seed, DropoutSite.stream(step: dropout.step, slot: 1 + index, site), 0)
        }
        linear(saves.attentionSum, context, layer.attentionOutput, rows: rows, ck_linear_epilogue(bias: layer.attentionOutput.bias),
               workspaces)
        drop(saves.attentionSum, .attentionOutput)
        ck_add(saves.attentionSum, saves.attentionSum, residual, mc)
        ck_layernorm_forward_train(normed, saves.attentionMean, saves.attentionRstd, saves.attentionSum,
                                   layer.attentionNormWeight, layer.attentionNormBias, Int32(rows), Int32(c), eps)
        linear(saves.preActivation, normed, layer.intermediate, rows: rows, ck_linear_epilogue(bias: layer.intermediate.bias),
               workspaces)
        if activation == .gelu {
            ck_gelu_forward(activated, saves.preActivation, rows * i)
        } else {
            ck_activation_forward(activated, saves.preActivation, rows * i, activation.kernelValue)
        }
        linear(saves.outputSum, activated, layer.output, rows: rows, ck_linear_epilogue(bias: layer.output.bias), workspaces)
        drop(saves.outputSum, .feedForwardOutput)
        ck_add(saves.outputSum, saves.outputSum, normed, mc)
        ck_layernorm_forward_train(output, saves.outputMean, saves.outputRstd, saves.outputSum,
                                   layer.outputNormWeight, layer.outputNormBias, Int32(rows), Int32(c), eps)
    }
}
