import Foundation

/// Where each weight of a family lives in its checkpoint: the names transformers' `*Model` and
/// `*ForSequenceClassification` save. BERT's own checkpoints keep their older reader (`BertWeights.load`, which
/// also takes the `gamma`/`beta` names of the first BERT releases); every other family is read through this
/// table, so a new family with BERT's block is a new table, not a new reader.
struct FamilyWeightNames {
    /// One layer's tensors, without the `.weight`/`.bias` suffix.
    struct Layer {
        let query, key, value, attentionOutput, attentionNorm, intermediate, output, outputNorm: String
    }

    let family: ModelFamily
    let wordEmbeddings = "embeddings.word_embeddings.weight"
    let positionEmbeddings = "embeddings.position_embeddings.weight"
    let tokenTypeEmbeddings = "embeddings.token_type_embeddings.weight"
    let embeddingNorm = "embeddings.LayerNorm"

    /// The projection from the embedding width to the hidden width (under the encoder prefix).
    var embeddingProjection: String? {
        switch family {
        case .electra: "embeddings_project"
        case .albert: "encoder.embedding_hidden_mapping_in"
        default: nil
        }
    }

    /// The names of weight group `group` (a layer, or ALBERT's shared group), under the encoder prefix.
    func layer(_ group: Int) -> Layer {
        switch family {
        case .distilbert:
            let p = "transformer.layer.\(group)."
            return Layer(query: p + "attention.q_lin", key: p + "attention.k_lin", value: p + "attention.v_lin",
                         attentionOutput: p + "attention.out_lin", attentionNorm: p + "sa_layer_norm",
                         intermediate: p + "ffn.lin1", output: p + "ffn.lin2", outputNorm: p + "output_layer_norm")
        case .albert:
            let p = "encoder.albert_layer_groups.\(group).albert_layers.0."
            return Layer(query: p + "attention.query", key: p + "attention.key", value: p + "attention.value",
                         attentionOutput: p + "attention.dense", attentionNorm: p + "attention.LayerNorm",
                         intermediate: p + "ffn", output: p + "ffn_output", outputNorm: p + "full_layer_layer_norm")
        case .bert, .roberta, .xlmRoberta, .electra:
            let p = "encoder.layer.\(group)."
            return Layer(query: p + "attention.self.query", key: p + "attention.self.key", value: p + "attention.self.value",
                         attentionOutput: p + "attention.output.dense", attentionNorm: p + "attention.output.LayerNorm",
                         intermediate: p + "intermediate.dense", output: p + "output.dense", outputNorm: p + "output.LayerNorm")
        }
    }

    /// The part of a name that counts groups ("encoder.layer."), to refuse files with more of them than the config.
    var groupCounter: String {
        switch family {
        case .distilbert: "transformer.layer."
        case .albert: "encoder.albert_layer_groups."
        default: "encoder.layer."
        }
    }

    /// The head's dense layer before the classifier and its activation, and the classifier's own name (both
    /// as saved, at the top level of a `*ForSequenceClassification` file, except BERT's and ALBERT's poolers,
    /// which belong to the encoder).
    var headDense: (name: String, underEncoder: Bool, activation: Activation) {
        switch family {
        case .bert: ("pooler.dense", true, .tanh)
        case .albert: ("pooler", true, .tanh)
        case .roberta, .xlmRoberta: ("classifier.dense", false, .tanh)
        case .electra: ("classifier.dense", false, .gelu)
        case .distilbert: ("pre_classifier", false, .relu)
        }
    }

    var classifier: String {
        switch family {
        case .roberta, .xlmRoberta, .electra: "classifier.out_proj"
        default: "classifier"
        }
    }

    /// A base model's pooler when the family's classification head is not one (RoBERTa's `pooler.dense`,
    /// under the encoder): read when there is no classifier, so `pooledOutput` is the base model's.
    var basePooler: String? {
        switch family {
        case .roberta, .xlmRoberta: "pooler.dense"
        default: nil
        }
    }
}

extension BertWeights {
    /// Reads the weights of a non-BERT family by its names (``FamilyWeightNames``), with or without the
    /// encoder's prefix (`roberta.`, `distilbert.`, ...). Every shape is checked against `config`; a missing or
    /// misshapen tensor is an error naming it and both shapes.
    static func loadFamily(from file: any TensorFile, config: BertConfig) throws -> BertWeights {
        let names = FamilyWeightNames(family: config.family)
        let prefix = config.family.weightPrefix
        let (c, i, e) = (config.hiddenSize, config.intermediateSize, config.embeddingSize)
        let path = file.path

        func entry(_ name: String, underEncoder: Bool = true) throws -> SafeTensorsEntry? {
            let candidates = underEncoder ? [prefix + name, name] : [name]
            let found = candidates.compactMap { file.entries[$0] }
            guard found.count <= 1 else {
                throw BertologyError.badInput(path, at: "tensor \(found[0].name)",
                    "the file also has \(found[1].name): two tensors for one weight")
            }
            return found.first
        }
        func tensor(_ name: String, _ shape: [Int], underEncoder: Bool = true) throws -> Tensor {
            guard let found = try entry(name, underEncoder: underEncoder) else {
                throw BertologyError.badInput(path, at: "tensor \(underEncoder ? prefix + name : name)",
                    "missing (required for a \(config.family) model\(underEncoder ? "; also looked for \(name)" : ""))")
            }
            guard found.shape == shape else {
                throw BertologyError.badInput(path, at: "tensor \(found.name)",
                    "shape \(found.shape) disagrees with config.json (expected \(shape))")
            }
            return try file.floatTensor(found)
        }
        func linear(_ name: String, _ outputs: Int, _ inputs: Int, underEncoder: Bool = true) throws -> (weight: Tensor, bias: Tensor) {
            (try tensor(name + ".weight", [outputs, inputs], underEncoder: underEncoder),
             try tensor(name + ".bias", [outputs], underEncoder: underEncoder))
        }
        func packed(_ pair: (weight: Tensor, bias: Tensor)) -> (weight: PackedWeight, bias: Tensor) {
            (PackedWeight(packing: pair.weight), pair.bias)
        }
        func has(_ name: String, underEncoder: Bool) throws -> Bool { try entry(name + ".weight", underEncoder: underEncoder) != nil }

        if let positions = try entry("embeddings.position_ids") {
            // Some checkpoints carry this I64 buffer; it must be 0, 1, 2, ... (RoBERTa's offset is applied apart).
            let values = try file.integerValues(positions)
            guard values.enumerated().allSatisfy({ $0.offset == $0.element }) else {
                throw BertologyError.badInput(path, at: "tensor \(positions.name)", "expected 0, 1, 2, ... (absolute positions)")
            }
        }

        let groupCount = config.family == .albert ? config.hiddenGroups : config.numHiddenLayers
        var groups: [LayerWeights] = []
        for group in 0..<groupCount {
            let n = names.layer(group)
            let (q, k, v) = (try linear(n.query, c, c), try linear(n.key, c, c), try linear(n.value, c, c))
            let attentionOutput = try linear(n.attentionOutput, c, c)
            let intermediate = try linear(n.intermediate, i, c), output = try linear(n.output, c, i)
            groups.append(LayerWeights(
                qkvWeight: PackedWeight(packing: stack([q.weight, k.weight, v.weight], shape: [3 * c, c])),
                qkvBias: stack([q.bias, k.bias, v.bias], shape: [3 * c]),
                attentionOutputWeight: PackedWeight(packing: attentionOutput.weight), attentionOutputBias: attentionOutput.bias,
                attentionNormWeight: try tensor(n.attentionNorm + ".weight", [c]),
                attentionNormBias: try tensor(n.attentionNorm + ".bias", [c]),
                intermediateWeight: PackedWeight(packing: intermediate.weight), intermediateBias: intermediate.bias,
                outputWeight: PackedWeight(packing: output.weight), outputBias: output.bias,
                outputNormWeight: try tensor(n.outputNorm + ".weight", [c]),
                outputNormBias: try tensor(n.outputNorm + ".bias", [c])))
        }
        let counted = file.entries.keys.compactMap { name -> Int? in
            let trimmed = name.hasPrefix(prefix) ? Substring(name.dropFirst(prefix.count)) : Substring(name)
            guard trimmed.hasPrefix(names.groupCounter) else { return nil }
            return Int(trimmed.dropFirst(names.groupCounter.count).prefix { $0.isNumber })
        }
        if let extra = counted.filter({ $0 >= groupCount }).min() {
            throw BertologyError.badInput(path, at: "tensor \(names.groupCounter)\(extra)",
                "the file has more \(config.family == .albert ? "layer groups than num_hidden_groups" : "layers than the config's layer count") = \(groupCount) in config.json")
        }
        let layers = (0..<config.numHiddenLayers).map { groups[config.weightGroup(ofLayer: $0)] }

        // The head: a dense layer and a classifier when the checkpoint is a classifier; else a base model's pooler.
        let head = names.headDense
        var classifier: (weight: PackedWeight, bias: Tensor)?
        if let found = try entry(names.classifier + ".weight", underEncoder: false) {
            guard found.shape.count == 2, found.shape[1] == c else {
                throw BertologyError.badInput(path, at: "tensor \(found.name)",
                    "shape \(found.shape) disagrees with config.json (expected [num_labels, \(c)])")
            }
            guard found.shape[0] == config.numLabels else {
                throw BertologyError.badInput(path, at: "tensor \(found.name)",
                    "\(found.shape[0]) outputs, but config.json says num_labels = \(config.numLabels)")
            }
            classifier = packed(try linear(names.classifier, config.numLabels, c, underEncoder: false))
        }
        var pooler: (weight: PackedWeight, bias: Tensor)?
        var poolerActivation = head.activation
        var poolerName: String?
        let poolerUnderEncoder = head.underEncoder ? try has(head.name, underEncoder: true) : false
        if classifier != nil || poolerUnderEncoder {
            pooler = packed(try linear(head.name, c, c, underEncoder: head.underEncoder))
            poolerName = (head.underEncoder ? prefix : "") + head.name
        } else if let base = names.basePooler, try has(base, underEncoder: true) {
            pooler = packed(try linear(base, c, c))
            poolerActivation = .tanh
            poolerName = prefix + base
        }

        let hasTypes = config.family.hasTokenTypeEmbeddings
        return BertWeights(
            wordEmbeddings: try tensor(names.wordEmbeddings, [config.vocabSize, e]),
            positionEmbeddings: try tensor(names.positionEmbeddings, [config.maxPositionEmbeddings, e]),
            tokenTypeEmbeddings: hasTypes ? try tensor(names.tokenTypeEmbeddings, [config.typeVocabSize, e]) : nil,
            embeddingNormWeight: try tensor(names.embeddingNorm + ".weight", [e]),
            embeddingNormBias: try tensor(names.embeddingNorm + ".bias", [e]),
            embeddingProjection: try (config.projectsEmbeddings ? names.embeddingProjection : nil).map { packed(try linear($0, c, e)) },
            layers: layers, pooler: pooler, classifier: classifier, poolerActivation: poolerActivation,
            poolerName: poolerName)
    }

    /// The encoder's weights (and the head's dense layer) under the names a `*ForSequenceClassification` of the
    /// family gives them (`roberta.encoder.layer.0.attention.self.query.weight`, ...; each ALBERT group once),
    /// with the fused QKV split back; the classifier is left out (fine-tuning always starts a new one).
    func familyNamedTensors(config: BertConfig) -> [(name: String, tensor: Tensor)] {
        let names = FamilyWeightNames(family: config.family)
        let prefix = config.family.weightPrefix
        let c = config.hiddenSize
        var result: [(name: String, tensor: Tensor)] = [
            (prefix + names.wordEmbeddings, wordEmbeddings), (prefix + names.positionEmbeddings, positionEmbeddings),
            (prefix + names.embeddingNorm + ".weight", embeddingNormWeight), (prefix + names.embeddingNorm + ".bias", embeddingNormBias),
        ]
        if let tokenTypeEmbeddings { result.append((prefix + names.tokenTypeEmbeddings, tokenTypeEmbeddings)) }
        if let embeddingProjection, let name = names.embeddingProjection {
            result += [(prefix + name + ".weight", embeddingProjection.weight.unpacked()), (prefix + name + ".bias", embeddingProjection.bias)]
        }
        let groupCount = config.family == .albert ? config.hiddenGroups : config.numHiddenLayers
        for group in 0..<groupCount {
            let layer = layers[(0..<config.numHiddenLayers).first { config.weightGroup(ofLayer: $0) == group }!]
            let n = names.layer(group)
            let qkv = layer.qkvWeight.unpacked()
            for (part, name) in [n.query, n.key, n.value].enumerated() {
                result.append((prefix + name + ".weight", slice(qkv, rows: part * c..<(part + 1) * c, columns: c)))
                result.append((prefix + name + ".bias", slice(layer.qkvBias, rows: part * c..<(part + 1) * c, columns: 1)))
            }
            result += [
                (prefix + n.attentionOutput + ".weight", layer.attentionOutputWeight.unpacked()),
                (prefix + n.attentionOutput + ".bias", layer.attentionOutputBias),
                (prefix + n.attentionNorm + ".weight", layer.attentionNormWeight), (prefix + n.attentionNorm + ".bias", layer.attentionNormBias),
                (prefix + n.intermediate + ".weight", layer.intermediateWeight.unpacked()), (prefix + n.intermediate + ".bias", layer.intermediateBias),
                (prefix + n.output + ".weight", layer.outputWeight.unpacked()), (prefix + n.output + ".bias", layer.outputBias),
                (prefix + n.outputNorm + ".weight", layer.outputNormWeight), (prefix + n.outputNorm + ".bias", layer.outputNormBias),
            ]
        }
        if let pooler, let poolerName {
            result += [(poolerName + ".weight", pooler.weight.unpacked()), (poolerName + ".bias", pooler.bias)]
        }
        return result
    }
}
