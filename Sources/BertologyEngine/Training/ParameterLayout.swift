internal import CKernels
import Foundation

/// Where every parameter of a `*ForSequenceClassification` lives in the trainer's arenas, under the family's
/// names (BertForSequenceClassification's for BERT, RobertaForSequenceClassification's for RoBERTa, ...).
/// ALBERT's layers share their group's entries: each layer's offsets point at the same floats, so the
/// backward's accumulating products sum every layer's gradient into the shared weights.
///
/// Parameters, gradients and AdamW's two moments are four arenas of `floatCount` floats with the same
/// layout, so clipping and the optimizer run over flat ranges. Each tensor starts on a 16-float
/// (64-byte) boundary, except that a layer's query, key and value weights (and their biases) follow
/// each other without a gap: together they are the fused (3C, C) projection and (3C) bias the
/// attention kernels take. Padding floats are 0 in every arena and stay 0 (their gradient is 0).
struct ParameterLayout {
    struct Entry {
        /// transformers' name in the family's classifier ("bert.encoder.layer.0.attention.self.query.weight").
        let name: String
        let offset: Int
        let shape: [Int]
        /// Whether AdamW's weight decay applies: not to biases nor LayerNorm weights (the recipe's
        /// `no_decay = ["bias", "LayerNorm.weight"]`).
        let decays: Bool
        var count: Int { shape.reduce(1, *) }
    }

    /// Offsets of one encoder layer's tensors.
    struct Layer {
        var qkvWeight = 0, qkvBias = 0  // (3C, C) and (3C): query, key, value stacked
        var attentionOutputWeight = 0, attentionOutputBias = 0  // (C, C), (C)
        var attentionNormWeight = 0, attentionNormBias = 0  // (C)
        var intermediateWeight = 0, intermediateBias = 0  // (I, C), (I)
        var outputWeight = 0, outputBias = 0  // (C, I), (C)
        var outputNormWeight = 0, outputNormBias = 0  // (C)
    }

    /// Entries in transformers' `named_parameters()` order for BERT; in embeddings, layers, head order for the
    /// other families (the names are what matters: checkpoints and the trainer's state are read by name).
    private(set) var entries: [Entry] = []
    private(set) var floatCount = 0
    private(set) var wordEmbeddings = 0, positionEmbeddings = 0
    /// nil when the family has no token types (DistilBERT).
    private(set) var tokenTypeEmbeddings: Int? = 0
    private(set) var embeddingNormWeight = 0, embeddingNormBias = 0
    /// The embedding projection (ELECTRA, ALBERT), (C, E) and (C).
    private(set) var embeddingProjection: (weight: Int, bias: Int)?
    /// One entry per layer (ALBERT's repeat their group's offsets).
    private(set) var layers: [Layer] = []
    /// The distinct weight groups (the layers themselves, or ALBERT's groups), for packing.
    private(set) var groups: [Layer] = []
    /// The head's dense layer (the pooler, RoBERTa's and ELECTRA's `classifier.dense`, DistilBERT's
    /// `pre_classifier`) and the classifier (`classifier` or `classifier.out_proj`).
    private(set) var poolerWeight = 0, poolerBias = 0, classifierWeight = 0, classifierBias = 0

    init(config: BertConfig, numLabels: Int) {
        if config.family == .bert {
            self.init(bert: config, numLabels: numLabels)
        } else {
            self.init(family: config, numLabels: numLabels)
        }
    }

    /// BERT, as BertForSequenceClassification names and orders its parameters.
    private init(bert config: BertConfig, numLabels: Int) {
        let (c, i) = (config.hiddenSize, config.intermediateSize)
        wordEmbeddings = add("bert.embeddings.word_embeddings.weight", [config.vocabSize, c])
        positionEmbeddings = add("bert.embeddings.position_embeddings.weight", [config.maxPositionEmbeddings, c])
        tokenTypeEmbeddings = add("bert.embeddings.token_type_embeddings.weight", [config.typeVocabSize, c])
        embeddingNormWeight = add("bert.embeddings.LayerNorm.weight", [c])
        embeddingNormBias = add("bert.embeddings.LayerNorm.bias", [c])
        for l in 0..<config.numHiddenLayers {
            let p = "bert.encoder.layer.\(l)."
            var layer = Layer()
            // Fused Q/K/V: three weights back to back, then three biases back to back.
            layer.qkvWeight = reserve(3 * c * c)
            layer.qkvBias = reserve(3 * c)
            for (part, name) in ["query", "key", "value"].enumerated() {
                entries.append(entry(p + "attention.self.\(name).weight", [c, c], layer.qkvWeight + part * c * c))
                entries.append(entry(p + "attention.self.\(name).bias", [c], layer.qkvBias + part * c))
            }
            layer.attentionOutputWeight = add(p + "attention.output.dense.weight", [c, c])
            layer.attentionOutputBias = add(p + "attention.output.dense.bias", [c])
            layer.attentionNormWeight = add(p + "attention.output.LayerNorm.weight", [c])
            layer.attentionNormBias = add(p + "attention.output.LayerNorm.bias", [c])
            layer.intermediateWeight = add(p + "intermediate.dense.weight", [i, c])
            layer.intermediateBias = add(p + "intermediate.dense.bias", [i])
            layer.outputWeight = add(p + "output.dense.weight", [c, i])
            layer.outputBias = add(p + "output.dense.bias", [c])
            layer.outputNormWeight = add(p + "output.LayerNorm.weight", [c])
            layer.outputNormBias = add(p + "output.LayerNorm.bias", [c])
            layers.append(layer)
        }
        groups = layers
        poolerWeight = add("bert.pooler.dense.weight", [c, c])
        poolerBias = add("bert.pooler.dense.bias", [c])
        classifierWeight = add("classifier.weight", [numLabels, c])
        classifierBias = add("classifier.bias", [numLabels])
    }

    /// Every family but BERT, by the names its checkpoints use (``FamilyWeightNames``).
    private init(family config: BertConfig, numLabels: Int) {
        let names = FamilyWeightNames(family: config.family)
        let prefix = config.family.weightPrefix
        let (c, i, e) = (config.hiddenSize, config.intermediateSize, config.embeddingSize)
        wordEmbeddings = add(prefix + names.wordEmbeddings, [config.vocabSize, e])
        positionEmbeddings = add(prefix + names.positionEmbeddings, [config.maxPositionEmbeddings, e])
        tokenTypeEmbeddings = config.family.hasTokenTypeEmbeddings
            ? add(prefix + names.tokenTypeEmbeddings, [config.typeVocabSize, e]) : nil
        embeddingNormWeight = add(prefix + names.embeddingNorm + ".weight", [e])
        embeddingNormBias = add(prefix + names.embeddingNorm + ".bias", [e])
        if config.projectsEmbeddings, let projection = names.embeddingProjection {
            embeddingProjection = (add(prefix + projection + ".weight", [c, e]), add(prefix + projection + ".bias", [c]))
        }
        let groupCount = config.family == .albert ? config.hiddenGroups : config.numHiddenLayers
        for group in 0..<groupCount {
            let n = names.layer(group)
            var layer = Layer()
            // Fused Q/K/V: three weights back to back, then three biases back to back.
            layer.qkvWeight = reserve(3 * c * c)
            layer.qkvBias = reserve(3 * c)
            for (part, name) in [n.query, n.key, n.value].enumerated() {
                entries.append(entry(prefix + name + ".weight", [c, c], layer.qkvWeight + part * c * c))
                entries.append(entry(prefix + name + ".bias", [c], layer.qkvBias + part * c))
            }
            layer.attentionOutputWeight = add(prefix + n.attentionOutput + ".weight", [c, c])
            layer.attentionOutputBias = add(prefix + n.attentionOutput + ".bias", [c])
            layer.attentionNormWeight = add(prefix + n.attentionNorm + ".weight", [c])
            layer.attentionNormBias = add(prefix + n.attentionNorm + ".bias", [c])
            layer.intermediateWeight = add(prefix + n.intermediate + ".weight", [i, c])
            layer.intermediateBias = add(prefix + n.intermediate + ".bias", [i])
            layer.outputWeight = add(prefix + n.output + ".weight", [c, i])
            layer.outputBias = add(prefix + n.output + ".bias", [c])
            layer.outputNormWeight = add(prefix + n.outputNorm + ".weight", [c])
            layer.outputNormBias = add(prefix + n.outputNorm + ".bias", [c])
            groups.append(layer)
        }
        layers = (0..<config.numHiddenLayers).map { groups[config.weightGroup(ofLayer: $0)] }
        let head = names.headDense
        let headName = (head.underEncoder ? prefix : "") + head.name
        poolerWeight = add(headName + ".weight", [c, c])
        poolerBias = add(headName + ".bias", [c])
        classifierWeight = add(names.classifier + ".weight", [numLabels, c])
        classifierBias = add(names.classifier + ".bias", [numLabels])
    }

    private mutating func reserve(_ count: Int) -> Int {
        let offset = (floatCount + 15) / 16 * 16
        floatCount = offset + count
        return offset
    }

    private func entry(_ name: String, _ shape: [Int], _ offset: Int) -> Entry {
        Entry(name: name, offset: offset, shape: shape,
              decays: !(name.hasSuffix("bias") || name.hasSuffix("LayerNorm.weight")))
    }

    private mutating func add(_ name: String, _ shape: [Int]) -> Int {
        let offset = reserve(shape.reduce(1, *))
        entries.append(entry(name, shape, offset))
        return offset
    }

    func entry(named name: String) -> Entry? { entries.first { $0.name == name } }
}

/// Where the packed copies of a layer's four projections live in the packed arena (`ck_pack_weight`
/// layout, the one `ck_linear_packed_forward` streams). Repacked from the parameters after every
/// optimizer step: packing reads each weight once, which costs little next to the GEMMs that use it.
struct PackedLayout {
    struct Layer {
        var qkv = 0, attentionOutput = 0, intermediate = 0, output = 0
    }
    /// One entry per layer (ALBERT's repeat their group's); `groups` holds each weight group once.
    private(set) var layers: [Layer] = []
    private(set) var groups: [Layer] = []
    /// The packed embedding projection, when the family has one.
    private(set) var embeddingProjection: Int?
    private(set) var floatCount = 0

    init(config: BertConfig) {
        let (c, i) = (config.hiddenSize, config.intermediateSize)
        func reserve(_ n: Int, _ k: Int) -> Int {
            let offset = (floatCount + 15) / 16 * 16
            floatCount = offset + ck_pack_weight_size(Int32(n), Int32(k))
            return offset
        }
        let groupCount = config.family == .albert ? config.hiddenGroups : config.numHiddenLayers
        for _ in 0..<groupCount {
            var layer = Layer()
            layer.qkv = reserve(3 * c, c)
            layer.attentionOutput = reserve(c, c)
            layer.intermediate = reserve(i, c)
            layer.output = reserve(c, i)
            groups.append(layer)
        }
        layers = (0..<config.numHiddenLayers).map { groups[config.weightGroup(ofLayer: $0)] }
        if config.projectsEmbeddings { embeddingProjection = reserve(c, config.embeddingSize) }
    }
}
