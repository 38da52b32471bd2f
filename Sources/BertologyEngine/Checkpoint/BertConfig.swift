import Foundation

/// The architecture of an encoder checkpoint, read from its `config.json`: Hugging Face's `BertConfig` and the
/// configs of the other families Bertology loads (``ModelFamily``), in BERT's names (DistilBERT's `dim` is
/// ``hiddenSize``, its `n_layers` ``numHiddenLayers``, and so on).
public struct BertConfig: Sendable, Equatable, Codable {
    /// The encoder family (`model_type`); `bert` when config.json does not say.
    public var family: ModelFamily = .bert
    /// Width of the input embeddings (`embedding_size`, ELECTRA and ALBERT), projected to ``hiddenSize``
    /// when the two differ; equal to ``hiddenSize`` for the other families.
    public var embeddingSize: Int
    /// ALBERT's `num_hidden_groups`: the layers share one set of weights per group (1 for every other family,
    /// where each layer is its own group).
    public var hiddenGroups: Int = 1
    /// Rows of the word-embedding matrix (`vocab_size`): token ids run from 0 to `vocabSize - 1`.
    public var vocabSize: Int
    /// Width C of every token's hidden state (`hidden_size`): 768 for bert-base, 384 for all-MiniLM-L6-v2.
    public var hiddenSize: Int
    /// Transformer layers (`num_hidden_layers`).
    public var numHiddenLayers: Int
    /// Attention heads per layer (`num_attention_heads`); must divide ``hiddenSize``.
    public var numAttentionHeads: Int
    /// Width of each layer's feed-forward block (`intermediate_size`), usually 4 x ``hiddenSize``.
    public var intermediateSize: Int
    /// Most tokens per sequence, specials included (`max_position_embeddings`): rows of the position embeddings.
    public var maxPositionEmbeddings: Int
    /// Segment (token type) ids the model knows (`type_vocab_size`), 2 for BERT: ids 0 and 1.
    public var typeVocabSize: Int
    /// The epsilon added to the variance in every layer normalisation (`layer_norm_eps`).
    public var layerNormEps: Float
    /// The feed-forward activation (`hidden_act`, DistilBERT's `activation`): "gelu" (the exact erf form),
    /// "gelu_new" (the tanh form, ALBERT) or "relu".
    public var hiddenAct: String
    /// The id of the padding token (`pad_token_id`).
    public var padTokenId: Int
    /// Outputs of the classifier, when the checkpoint has one (1 means regression).
    public var numLabels: Int
    /// Class names by index (`id2label`), when config.json gives them.
    public var id2label: [Int: String]
    /// Class indices by name (`label2id`), when config.json gives them.
    public var label2id: [String: Int] = [:]
    /// `problem_type` as Hugging Face writes it ("regression", "single_label_classification", ...).
    public var problemType: String?
    /// Dropout on hidden states (`hidden_dropout_prob`); used only when training.
    public var hiddenDropoutProb: Float = 0.1
    /// Dropout on the attention probabilities (`attention_probs_dropout_prob`); used only when training.
    public var attentionProbsDropoutProb: Float = 0.1
    /// Dropout before the classifier (`classifier_dropout`); nil means ``hiddenDropoutProb``, as transformers does.
    public var classifierDropout: Float?

    /// The size of one attention head's query, key and value vectors.
    public var headSize: Int { hiddenSize / numAttentionHeads }

    /// The attention scores' scale, as transformers computes it: `attention_head_size ** -0.5`, a Python double
    /// applied in float32. The forward and the backward of attention take it from here.
    var attentionScale: Float { Float(pow(Double(headSize), -0.5)) }

    /// The feed-forward activation as a value.
    public var activation: Activation { Activation(huggingFaceName: hiddenAct) ?? .gelu }

    /// Most tokens per sequence, specials included: ``maxPositionEmbeddings``, less the positions RoBERTa
    /// and XLM-R reserve below their first real one (the padding index and the ones before it: 514 - 2 = 512).
    public var maxSequenceLength: Int { maxPositionEmbeddings - (family.positionOffset(padTokenId: padTokenId) ?? 0) }

    /// Whether the embeddings are projected from ``embeddingSize`` to ``hiddenSize`` (ELECTRA, ALBERT).
    var projectsEmbeddings: Bool { family == .albert || embeddingSize != hiddenSize }

    /// The weight group layer `layer` reads (ALBERT shares weights within a group; elsewhere the layer itself).
    func weightGroup(ofLayer layer: Int) -> Int {
        family == .albert ? layer * hiddenGroups / numHiddenLayers : layer
    }

    /// Whether a classifier head of this config predicts one real value (STS-B style).
    public var isRegression: Bool { problemType == "regression" || numLabels == 1 }

    /// Creates a configuration in code (for ``BertModel/random(config:seed:initializerRange:pooler:classifier:)``
    /// or tests); the defaults are bert-base-uncased's. Values are not checked here.
    /// - Parameters:
    ///   - vocabSize: rows of the word embeddings.
    ///   - hiddenSize: width of a token's hidden state.
    ///   - numHiddenLayers: transformer layers.
    ///   - numAttentionHeads: heads per layer; must divide `hiddenSize`.
    ///   - intermediateSize: width of the feed-forward block.
    ///   - maxPositionEmbeddings: most tokens per sequence.
    ///   - typeVocabSize: segment ids the model knows.
    ///   - layerNormEps: layer-normalisation epsilon.
    ///   - hiddenAct: the activation; "gelu".
    ///   - padTokenId: the padding token's id.
    ///   - numLabels: classifier outputs (1 for regression).
    ///   - id2label: class names by output index; empty when unnamed.
    ///   - problemType: Hugging Face's `problem_type`, for example "regression"; nil when unset.
    public init(vocabSize: Int = 30522, hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                intermediateSize: Int, maxPositionEmbeddings: Int = 512, typeVocabSize: Int = 2,
                layerNormEps: Float = 1e-12, hiddenAct: String = "gelu", padTokenId: Int = 0,
                numLabels: Int = 2, id2label: [Int: String] = [:], problemType: String? = nil) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.embeddingSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        self.hiddenAct = hiddenAct
        self.padTokenId = padTokenId
        self.numLabels = numLabels
        self.id2label = id2label
        self.problemType = problemType
    }

    /// bert-base-uncased: 12 layers x 12 heads, hidden 768.
    public static let bertBase = BertConfig(hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12,
                                            intermediateSize: 3072)
    /// all-MiniLM-L6-v2: 6 layers x 12 heads, hidden 384.
    public static let miniLML6 = BertConfig(hiddenSize: 384, numHiddenLayers: 6, numAttentionHeads: 12,
                                            intermediateSize: 1536)

    /// Reads and checks `config.json`. Errors name the file and the field.
    public static func load(from url: URL) throws -> BertConfig {
        try parse(InputFile.read(url), file: url.path)
    }

    static func parse(_ data: Data, file: String) throws -> BertConfig {
        guard let fields = try JSONValue.parse(data, file: file).object else {
            throw BertologyError.badInput(file, "expected a JSON object")
        }
        func integer(_ key: String, default value: Int? = nil) throws -> Int {
            guard let field = fields[key], field != .null else {
                if let value { return value }
                throw BertologyError.badInput(file, at: key, "missing (required)")
            }
            guard let number = field.integer else {
                throw BertologyError.badInput(file, at: key, "expected an integer")
            }
            return number
        }
        let family: ModelFamily
        if let field = fields["model_type"], field != .null {
            guard let name = field.string else { throw BertologyError.badInput(file, at: "model_type", "expected a string") }
            guard let known = ModelFamily(rawValue: name) else {
                throw BertologyError.badInput(file, at: "model_type",
                    "\"\(name)\" is not supported: Bertology loads \(ModelFamily.supportedList)")
            }
            family = known
        } else {
            family = .bert
        }
        if let kind = fields["position_embedding_type"]?.string, kind != "absolute" {
            throw BertologyError.badInput(file, at: "position_embedding_type",
                "\"\(kind)\" is not supported (only \"absolute\")")
        }
        // DistilBERT names the same sizes differently.
        let distil = family == .distilbert
        var config = BertConfig(
            vocabSize: try integer("vocab_size"),
            hiddenSize: try integer(distil ? "dim" : "hidden_size"),
            numHiddenLayers: try integer(distil ? "n_layers" : "num_hidden_layers"),
            numAttentionHeads: try integer(distil ? "n_heads" : "num_attention_heads"),
            intermediateSize: try integer(distil ? "hidden_dim" : "intermediate_size"),
            maxPositionEmbeddings: try integer("max_position_embeddings", default: 512),
            typeVocabSize: distil ? 0 : try integer("type_vocab_size", default: 2),
            padTokenId: try integer("pad_token_id", default: 0))
        config.family = family
        if family == .electra || family == .albert {
            config.embeddingSize = try integer("embedding_size", default: family == .albert ? 128 : config.hiddenSize)
        }
        if family == .albert {
            config.hiddenGroups = try integer("num_hidden_groups", default: 1)
            let inner = try integer("inner_group_num", default: 1)
            guard inner == 1 else {
                throw BertologyError.badInput(file, at: "inner_group_num",
                    "\(inner) is not supported (only 1: each layer one ALBERT layer, as every released ALBERT has)")
            }
            config.hiddenAct = "gelu_new"
        }
        if let eps = fields["layer_norm_eps"] {
            guard let value = eps.double, value > 0, value < 1 else {
                throw BertologyError.badInput(file, at: "layer_norm_eps", "expected a small positive number")
            }
            config.layerNormEps = Float(value)
        }
        let activationKey = distil ? "activation" : "hidden_act"
        if let act = fields[activationKey] {
            guard let name = act.string else {
                throw BertologyError.badInput(file, at: activationKey, "expected a string")
            }
            config.hiddenAct = name
        }
        if let labels = fields["id2label"], labels != .null {
            guard let table = labels.object else {
                throw BertologyError.badInput(file, at: "id2label", "expected an object of index -> name")
            }
            for (key, value) in table.sorted(by: { $0.key < $1.key }) {
                guard let index = Int(key), index >= 0, let name = value.string else {
                    throw BertologyError.badInput(file, at: "id2label", "entry \"\(key)\" is not index -> name")
                }
                config.id2label[index] = name
            }
        }
        if let labels = fields["label2id"], labels != .null {
            guard let table = labels.object else {
                throw BertologyError.badInput(file, at: "label2id", "expected an object of name -> index")
            }
            for (name, value) in table {
                guard let index = value.integer, index >= 0 else {
                    throw BertologyError.badInput(file, at: "label2id", "entry \"\(name)\" is not name -> index")
                }
                config.label2id[name] = index
            }
        }
        config.numLabels = config.id2label.isEmpty ? 2 : config.id2label.count
        if fields["num_labels"] != nil { config.numLabels = try integer("num_labels") }
        if let problem = fields["problem_type"]?.string { config.problemType = problem }
        func probability(_ key: String) throws -> Float? {
            guard let field = fields[key], field != .null else { return nil }
            guard let value = field.double, value >= 0, value < 1 else {
                throw BertologyError.badInput(file, at: key, "expected a dropout probability in [0, 1)")
            }
            return Float(value)
        }
        if let p = try probability(distil ? "dropout" : "hidden_dropout_prob") { config.hiddenDropoutProb = p }
        if let p = try probability(distil ? "attention_dropout" : "attention_probs_dropout_prob") {
            config.attentionProbsDropoutProb = p
        }
        let classifierDropoutKey = switch family {
        case .distilbert: "seq_classif_dropout"
        case .albert: "classifier_dropout_prob"
        default: "classifier_dropout"
        }
        config.classifierDropout = try probability(classifierDropoutKey)
        try config.validate(file: file)
        return config
    }

    /// Limits that keep a hostile or mistyped config from asking for absurd memory before a
    /// single weight is read.
    @_spi(Fuzzing) public static let limits = (dimension: 65_536, layers: 256, heads: 1_024, vocab: 2_000_000, positions: 65_536,
                         parameters: 8_000_000_000)

    func validate(file: String) throws {
        func check(_ value: Int, _ key: String, max: Int) throws {
            guard value >= 1 else { throw BertologyError.badInput(file, at: key, "must be at least 1 (got \(value))") }
            guard value <= max else {
                throw BertologyError.badInput(file, at: key, "\(value) is beyond the supported maximum \(max)")
            }
        }
        let limits = Self.limits
        try check(vocabSize, "vocab_size", max: limits.vocab)
        try check(hiddenSize, "hidden_size", max: limits.dimension)
        try check(numHiddenLayers, "num_hidden_layers", max: limits.layers)
        try check(numAttentionHeads, "num_attention_heads", max: limits.heads)
        try check(intermediateSize, "intermediate_size", max: limits.dimension * 4)
        try check(maxPositionEmbeddings, "max_position_embeddings", max: limits.positions)
        if family.hasTokenTypeEmbeddings { try check(typeVocabSize, "type_vocab_size", max: 1_024) }
        try check(embeddingSize, "embedding_size", max: limits.dimension)
        // Every released ELECTRA and ALBERT projects up (or not at all); the trainer's buffers assume it.
        guard embeddingSize <= hiddenSize else {
            throw BertologyError.badInput(file, at: "embedding_size",
                "\(embeddingSize) is larger than hidden_size \(hiddenSize) (only a projection up to the hidden width is supported)")
        }
        try check(hiddenGroups, "num_hidden_groups", max: numHiddenLayers)
        guard numHiddenLayers % hiddenGroups == 0 else {
            throw BertologyError.badInput(file, at: "num_hidden_groups",
                "\(hiddenGroups) does not divide num_hidden_layers \(numHiddenLayers)")
        }
        if let offset = family.positionOffset(padTokenId: padTokenId), offset >= maxPositionEmbeddings {
            throw BertologyError.badInput(file, at: "max_position_embeddings",
                "\(maxPositionEmbeddings) leaves no position after the padding index \(padTokenId)")
        }
        try check(numLabels, "num_labels", max: 100_000)
        guard hiddenSize % numAttentionHeads == 0 else {
            throw BertologyError.badInput(file, at: "hidden_size",
                "\(hiddenSize) is not a multiple of num_attention_heads \(numAttentionHeads)")
        }
        guard family != .bert || hiddenAct == "gelu" else {
            throw BertologyError.badInput(file, at: "hidden_act",
                "\"\(hiddenAct)\" is not supported (BERT uses \"gelu\", the exact erf form)")
        }
        guard Activation(huggingFaceName: hiddenAct) != nil, hiddenAct != "tanh" else {
            throw BertologyError.badInput(file, at: family == .distilbert ? "activation" : "hidden_act",
                "\"\(hiddenAct)\" is not supported (gelu, gelu_new or relu)")
        }
        guard padTokenId >= 0, padTokenId < vocabSize else {
            throw BertologyError.badInput(file, at: "pad_token_id", "\(padTokenId) is outside the vocabulary (\(vocabSize))")
        }
        guard parameterCount <= limits.parameters else {
            throw BertologyError.badInput(file, "the sizes describe \(parameterCount) parameters, beyond the supported \(limits.parameters)")
        }
    }

    /// config.json as Hugging Face writes it for `BertModel` / `BertForSequenceClassification`.
    public func huggingFaceJSON() -> Data {
        var fields: [String: Any] = [
            "model_type": "bert", "architectures": [id2label.isEmpty ? "BertModel" : "BertForSequenceClassification"],
            "vocab_size": vocabSize, "hidden_size": hiddenSize, "num_hidden_layers": numHiddenLayers,
            "num_attention_heads": numAttentionHeads, "intermediate_size": intermediateSize,
            "max_position_embeddings": maxPositionEmbeddings, "type_vocab_size": typeVocabSize,
            "layer_norm_eps": Double(layerNormEps), "hidden_act": hiddenAct, "pad_token_id": padTokenId,
            "position_embedding_type": "absolute",
        ]
        // As transformers does: id2label always present, LABEL_i when no names were given.
        let labels = id2label.isEmpty
            ? Dictionary(uniqueKeysWithValues: (0..<numLabels).map { ($0, "LABEL_\($0)") }) : id2label
        fields["id2label"] = Dictionary(uniqueKeysWithValues: labels.map { (String($0.key), $0.value) })
        fields["label2id"] = Dictionary(uniqueKeysWithValues: labels.map { ($0.value, $0.key) })
        if let problemType { fields["problem_type"] = problemType }
        return try! JSONSerialization.data(withJSONObject: fields, options: [.prettyPrinted, .sortedKeys])
    }

    /// Parameters of the encoder with embeddings and pooler (classifier excluded).
    public var parameterCount: Int {
        let c = hiddenSize, i = intermediateSize
        let e = embeddingSize
        let embeddings = (vocabSize + maxPositionEmbeddings + typeVocabSize) * e + 2 * e + (e != c ? e * c + c : 0)
        let layer = 4 * (c * c + c) + 2 * (c * i) + i + c + 4 * c
        return embeddings + (family == .albert ? hiddenGroups : numHiddenLayers) * layer + c * c + c
    }
}
