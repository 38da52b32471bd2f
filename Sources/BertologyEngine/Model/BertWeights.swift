internal import CKernels
import Foundation

/// An nn.Linear weight (outputs, inputs) packed once, at load time, into the layout the GEMM
/// micro-kernel streams (`ck_pack_weight`: K-major panels of 32 output columns). The unpacked
/// matrix is not kept; `unpacked()` rebuilds it for export.
struct PackedWeight: Sendable {
    let outputs: Int  // N
    let inputs: Int  // K
    let storage: TensorStorage
    /// The bf16 pair panels of a bf16 precision (`ck_pack_weight_bf16`, 32-bit words), or the int8 panels,
    /// scales and sums in int8 (`ck_pack_weight_int8`); nil in fp32.
    private(set) var reducedPack: TensorStorage?
    /// The precision `reducedPack` is packed for (fp32 when there is none).
    private(set) var precision: Precision = .fp32

    /// Packs `weight`, an (N, K) tensor.
    init(packing weight: Tensor) {
        precondition(weight.shape.count == 2, "a linear weight is 2-D, got \(weight.shape)")
        outputs = weight.shape[0]
        inputs = weight.shape[1]
        storage = TensorStorage(capacity: ck_pack_weight_size(Int32(outputs), Int32(inputs)))
        ck_pack_weight(storage.pointer, weight.pointer, Int32(outputs), Int32(inputs))
    }

    var pointer: UnsafePointer<Float> { UnsafePointer(storage.pointer) }

    /// The bf16 pair panels (in a bf16 precision) or the int8 pack (in int8).
    var reducedPackPointer: UnsafePointer<UInt32> {
        UnsafeRawPointer(reducedPack!.pointer).assumingMemoryBound(to: UInt32.self)
    }

    /// This weight with the pair panels of `precision` (none for fp32); the fp32 panels are shared.
    func with(precision: Precision) -> PackedWeight {
        if precision == self.precision { return self }
        var copy = self
        copy.precision = precision
        copy.reducedPack = nil
        guard precision != .fp32 else { return copy }
        if precision == .int8 {
            let words = TensorStorage(capacity: ck_pack_weight_int8_size(Int32(outputs), Int32(inputs)))
            let weight = unpacked()
            withExtendedLifetime(weight) {
                ck_pack_weight_int8(UnsafeMutableRawPointer(words.pointer).assumingMemoryBound(to: UInt32.self),
                                    weight.pointer, Int32(outputs), Int32(inputs))
            }
            copy.reducedPack = words
            return copy
        }
        let terms = precision.terms
        let words = TensorStorage(capacity: ck_pack_weight_bf16_size(Int32(outputs), Int32(inputs), terms))
        let weight = unpacked()
        ck_pack_weight_bf16(UnsafeMutableRawPointer(words.pointer).assumingMemoryBound(to: UInt32.self),
                            weight.pointer, Int32(outputs), Int32(inputs), terms)
        copy.reducedPack = words
        return copy
    }

    /// The (N, K) weight as the checkpoint stores it.
    func unpacked() -> Tensor {
        let weight = Tensor(zeros: [outputs, inputs])
        ck_unpack_weight(weight.mutablePointer, pointer, Int32(outputs), Int32(inputs))
        return weight
    }
}

/// The weights of one encoder layer, laid out for the kernels.
struct LayerWeights: Sendable {
    /// Query, key and value projections stacked as one (3C, C) matrix, so one GEMM produces
    /// the (B,T,3C) input of `ck_attention_forward`.
    let qkvWeight: PackedWeight
    let qkvBias: Tensor
    let attentionOutputWeight: PackedWeight  // (C, C)
    let attentionOutputBias: Tensor
    let attentionNormWeight: Tensor
    let attentionNormBias: Tensor
    let intermediateWeight: PackedWeight  // (I, C)
    let intermediateBias: Tensor
    let outputWeight: PackedWeight  // (C, I)
    let outputBias: Tensor
    let outputNormWeight: Tensor
    let outputNormBias: Tensor
}

/// Every weight of an encoder in Float32, immutable once loaded. The family's differences are data here:
/// an optional token-type table and embedding projection, the layers (ALBERT's repeat one group's weights:
/// the same storage, never copied) and the head's activation.
struct BertWeights: Sendable {
    let wordEmbeddings: Tensor  // (V, E)
    let positionEmbeddings: Tensor  // (P, E)
    /// (TT, E), or nil when the family has no token types (DistilBERT).
    let tokenTypeEmbeddings: Tensor?
    let embeddingNormWeight: Tensor  // (E)
    let embeddingNormBias: Tensor
    /// ELECTRA's `embeddings_project` / ALBERT's `embedding_hidden_mapping_in`: (C, E), when E != C or ALBERT.
    var embeddingProjection: (weight: PackedWeight, bias: Tensor)? = nil
    /// One entry per layer (ALBERT: the group's weights, repeated).
    let layers: [LayerWeights]
    /// activation(W h[CLS] + b) on the first token, when the checkpoint has one: BERT's and ALBERT's pooler,
    /// RoBERTa's and ELECTRA's `classifier.dense`, DistilBERT's `pre_classifier` (packed like every linear weight).
    let pooler: (weight: PackedWeight, bias: Tensor)?
    /// Sequence-classification head on the pooled output, when the checkpoint has one.
    let classifier: (weight: PackedWeight, bias: Tensor)?
    /// The pooler's activation: tanh (BERT, ALBERT, RoBERTa), GELU (ELECTRA's head), ReLU (DistilBERT's).
    var poolerActivation: Activation = .tanh
    /// The checkpoint name the pooler was read from, without `.weight` (families other than BERT): the head's
    /// dense layer ("classifier.dense", "albert.pooler") or a base model's pooler ("roberta.pooler.dense").
    var poolerName: String? = nil
}

extension BertWeights {
    /// These weights with every linear layer packed for `precision` as well (fp32 tensors shared).
    func with(precision: Precision) -> BertWeights {
        BertWeights(
            wordEmbeddings: wordEmbeddings, positionEmbeddings: positionEmbeddings,
            tokenTypeEmbeddings: tokenTypeEmbeddings, embeddingNormWeight: embeddingNormWeight,
            embeddingNormBias: embeddingNormBias,
            embeddingProjection: embeddingProjection.map { (weight: $0.weight.with(precision: precision), bias: $0.bias) },
            layers: layers.map { layer in
                LayerWeights(qkvWeight: layer.qkvWeight.with(precision: precision), qkvBias: layer.qkvBias,
                             attentionOutputWeight: layer.attentionOutputWeight.with(precision: precision),
                             attentionOutputBias: layer.attentionOutputBias,
                             attentionNormWeight: layer.attentionNormWeight, attentionNormBias: layer.attentionNormBias,
                             intermediateWeight: layer.intermediateWeight.with(precision: precision),
                             intermediateBias: layer.intermediateBias,
                             outputWeight: layer.outputWeight.with(precision: precision), outputBias: layer.outputBias,
                             outputNormWeight: layer.outputNormWeight, outputNormBias: layer.outputNormBias)
            },
            pooler: pooler.map { (weight: $0.weight.with(precision: precision), bias: $0.bias) },
            classifier: classifier.map { (weight: $0.weight.with(precision: precision), bias: $0.bias) },
            poolerActivation: poolerActivation, poolerName: poolerName)
    }

    /// Reads the weights named as Hugging Face names them, with or without the `bert.` prefix,
    /// LayerNorm as `weight`/`bias` or the older `gamma`/`beta`. Every shape is checked against
    /// `config`; a missing or misshapen tensor is an error naming it.
    static func load(from file: any TensorFile, config: BertConfig) throws -> BertWeights {
        let c = config.hiddenSize, i = config.intermediateSize
        let path = file.path

        func entry(_ name: String) throws -> SafeTensorsEntry? {
            var candidates = [name, "bert." + name]
            for (modern, legacy) in [(".weight", ".gamma"), (".bias", ".beta")] where name.contains("LayerNorm") && name.hasSuffix(modern) {
                let old = String(name.dropLast(modern.count)) + legacy
                candidates += [old, "bert." + old]
            }
            let found = candidates.compactMap { file.entries[$0] }
            // Two spellings of one weight: which one transformers would load depends on the class; refuse to guess.
            guard found.count <= 1 else {
                throw BertologyError.badInput(path, at: "tensor \(found[0].name)",
                    "the file also has \(found[1].name): two tensors for one weight")
            }
            return found.first
        }
        func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let found = try entry(name) else {
                throw BertologyError.badInput(path, at: "tensor \(name)", "missing (required; also looked for bert.\(name))")
            }
            guard found.shape == shape else {
                throw BertologyError.badInput(path, at: "tensor \(found.name)",
                    "shape \(found.shape) disagrees with config.json (expected \(shape))")
            }
            return try file.floatTensor(found)
        }
        func optionalPair(_ prefix: String, _ weightShape: [Int], _ biasShape: [Int]) throws -> (weight: Tensor, bias: Tensor)? {
            guard try entry(prefix + ".weight") != nil || entry(prefix + ".bias") != nil else { return nil }
            return (try tensor(prefix + ".weight", weightShape), try tensor(prefix + ".bias", biasShape))
        }

        if let positions = try entry("embeddings.position_ids") {
            // Real checkpoints carry this I64 buffer; it must be 0, 1, 2, ... to mean absolute positions.
            let values = try file.integerValues(positions)
            guard values.enumerated().allSatisfy({ $0.offset == $0.element }) else {
                throw BertologyError.badInput(path, at: "tensor \(positions.name)", "expected 0, 1, 2, ... (absolute positions)")
            }
        }

        var layers: [LayerWeights] = []
        for l in 0..<config.numHiddenLayers {
            let p = "encoder.layer.\(l)."
            let q = try tensor(p + "attention.self.query.weight", [c, c])
            let k = try tensor(p + "attention.self.key.weight", [c, c])
            let v = try tensor(p + "attention.self.value.weight", [c, c])
            let qb = try tensor(p + "attention.self.query.bias", [c])
            let kb = try tensor(p + "attention.self.key.bias", [c])
            let vb = try tensor(p + "attention.self.value.bias", [c])
            layers.append(LayerWeights(
                qkvWeight: PackedWeight(packing: stack([q, k, v], shape: [3 * c, c])),
                qkvBias: stack([qb, kb, vb], shape: [3 * c]),
                attentionOutputWeight: PackedWeight(packing: try tensor(p + "attention.output.dense.weight", [c, c])),
                attentionOutputBias: try tensor(p + "attention.output.dense.bias", [c]),
                attentionNormWeight: try tensor(p + "attention.output.LayerNorm.weight", [c]),
                attentionNormBias: try tensor(p + "attention.output.LayerNorm.bias", [c]),
                intermediateWeight: PackedWeight(packing: try tensor(p + "intermediate.dense.weight", [i, c])),
                intermediateBias: try tensor(p + "intermediate.dense.bias", [i]),
                outputWeight: PackedWeight(packing: try tensor(p + "output.dense.weight", [c, i])),
                outputBias: try tensor(p + "output.dense.bias", [c]),
                outputNormWeight: try tensor(p + "output.LayerNorm.weight", [c]),
                outputNormBias: try tensor(p + "output.LayerNorm.bias", [c])))
        }
        if let extra = file.entries.keys.compactMap({ layerIndex(of: $0) }).filter({ $0 >= config.numHiddenLayers }).min() {
            throw BertologyError.badInput(path, at: "tensor encoder.layer.\(extra)",
                "the file has more layers than num_hidden_layers = \(config.numHiddenLayers) in config.json")
        }

        let pooler = try optionalPair("pooler.dense", [c, c], [c]).map { (weight: PackedWeight(packing: $0.weight), bias: $0.bias) }
        // The classifier is never stored under the `bert.` prefix; look for it as saved.
        var classifier: (weight: PackedWeight, bias: Tensor)?
        if let weight = file.entries["classifier.weight"] {
            guard weight.shape.count == 2, weight.shape[1] == c else {
                throw BertologyError.badInput(path, at: "tensor classifier.weight",
                    "shape \(weight.shape) disagrees with config.json (expected [num_labels, \(c)])")
            }
            let labels = weight.shape[0]
            guard labels == config.numLabels else {
                throw BertologyError.badInput(path, at: "tensor classifier.weight",
                    "\(labels) outputs, but config.json says num_labels = \(config.numLabels)")
            }
            guard pooler != nil else {
                throw BertologyError.badInput(path, at: "tensor classifier.weight",
                    "a classifier needs the pooler (pooler.dense.weight), which is missing")
            }
            classifier = (PackedWeight(packing: try tensor("classifier.weight", [labels, c])), try tensor("classifier.bias", [labels]))
        }

        return BertWeights(
            wordEmbeddings: try tensor("embeddings.word_embeddings.weight", [config.vocabSize, c]),
            positionEmbeddings: try tensor("embeddings.position_embeddings.weight", [config.maxPositionEmbeddings, c]),
            tokenTypeEmbeddings: try tensor("embeddings.token_type_embeddings.weight", [config.typeVocabSize, c]),
            embeddingNormWeight: try tensor("embeddings.LayerNorm.weight", [c]),
            embeddingNormBias: try tensor("embeddings.LayerNorm.bias", [c]),
            layers: layers, pooler: pooler, classifier: classifier)
    }

    private static func layerIndex(of name: String) -> Int? {
        let trimmed = name.hasPrefix("bert.") ? name.dropFirst(5) : Substring(name)
        guard trimmed.hasPrefix("encoder.layer.") else { return nil }
        return Int(trimmed.dropFirst("encoder.layer.".count).prefix { $0.isNumber })
    }

    /// Concatenates tensors along their first dimension.
    static func stack(_ parts: [Tensor], shape: [Int]) -> Tensor {
        let result = Tensor(zeros: shape)
        var offset = 0
        for part in parts {
            (result.mutablePointer + offset).update(from: part.pointer, count: part.count)
            offset += part.count
        }
        return result
    }
}

extension BertWeights {
    /// Every weight under its Hugging Face name (no `bert.` prefix, LayerNorm as weight/bias), with
    /// the fused QKV projection split back into query, key and value.
    func namedTensors() -> [(name: String, tensor: Tensor)] {
        var result: [(name: String, tensor: Tensor)] = [
            ("embeddings.word_embeddings.weight", wordEmbeddings),
            ("embeddings.position_embeddings.weight", positionEmbeddings),
            ("embeddings.token_type_embeddings.weight", tokenTypeEmbeddings!),
            ("embeddings.LayerNorm.weight", embeddingNormWeight),
            ("embeddings.LayerNorm.bias", embeddingNormBias),
        ]
        for (index, layer) in layers.enumerated() {
            let p = "encoder.layer.\(index)."
            let c = layer.qkvWeight.inputs
            let qkv = layer.qkvWeight.unpacked()
            for (part, name) in ["query", "key", "value"].enumerated() {
                result.append((p + "attention.self.\(name).weight", slice(qkv, rows: part * c..<(part + 1) * c, columns: c)))
                result.append((p + "attention.self.\(name).bias", slice(layer.qkvBias, rows: part * c..<(part + 1) * c, columns: 1)))
            }
            result += [
                (p + "attention.output.dense.weight", layer.attentionOutputWeight.unpacked()),
                (p + "attention.output.dense.bias", layer.attentionOutputBias),
                (p + "attention.output.LayerNorm.weight", layer.attentionNormWeight),
                (p + "attention.output.LayerNorm.bias", layer.attentionNormBias),
                (p + "intermediate.dense.weight", layer.intermediateWeight.unpacked()),
                (p + "intermediate.dense.bias", layer.intermediateBias),
                (p + "output.dense.weight", layer.outputWeight.unpacked()),
                (p + "output.dense.bias", layer.outputBias),
                (p + "output.LayerNorm.weight", layer.outputNormWeight),
                (p + "output.LayerNorm.bias", layer.outputNormBias),
            ]
        }
        if let pooler {
            result += [("pooler.dense.weight", pooler.weight.unpacked()), ("pooler.dense.bias", pooler.bias)]
        }
        if let classifier {
            result += [("classifier.weight", classifier.weight.unpacked()), ("classifier.bias", classifier.bias)]
        }
        return result
    }

    func slice(_ tensor: Tensor, rows: Range<Int>, columns: Int) -> Tensor {
        let shape = columns == 1 ? [rows.count] : [rows.count, columns]
        let result = Tensor(zeros: shape)
        result.mutablePointer.update(from: tensor.pointer + rows.lowerBound * columns, count: rows.count * columns)
        return result
    }
}
