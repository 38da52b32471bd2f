import Foundation

/// A loaded BERT model: configuration and weights, immutable and safe to share between tasks.
/// Run it through an `InferenceSession` (one per task; sessions hold the mutable buffers).
public final class BertModel: Sendable {
    /// The architecture and label names, from `config.json`.
    public let config: BertConfig
    /// The folder or file the weights came from, for reports.
    public let source: String
    /// How the linear layers and attention's products round their operands (docs/PRECISION.md).
    /// Every session of this model runs in it.
    public let precision: Precision
    let weights: BertWeights

    init(config: BertConfig, weights: BertWeights, source: String, precision: Precision = .fp32) {
        self.config = config
        // Always through with(precision:): weights of a model in another precision carry its bf16
        // packs, which fp32 must drop (the session picks the kernel by the packs' precision).
        self.weights = weights.with(precision: precision)
        self.source = source
        self.precision = precision
    }

    /// Loads `config.json` and the weights (`model.safetensors`, else `pytorch_model.bin`; `TensorFiles.open`)
    /// from a checkpoint folder in the Hugging Face layout.
    /// - Parameter precision: the precision every session runs in; a bf16 one packs the linear weights'
    ///   bf16 forms once, here. On a CPU without AVX512-BF16 a bf16 precision runs the scalar
    ///   emulation (slowly); `Precision.choose` says what to ask for on this CPU.
    public static func load(folder: URL, precision: Precision = .fp32) throws -> BertModel {
        let config = try BertConfig.load(from: try requireFile(folder, "config.json"))
        let file = try TensorFiles.open(folder: folder)
        let weights = config.family == .bert ? try BertWeights.load(from: file, config: config)
            : try BertWeights.loadFamily(from: file, config: config)
        return BertModel(config: config, weights: weights, source: folder.path, precision: precision)
    }

    /// This model in another precision: the same fp32 weights (shared, not copied), with the bf16
    /// forms packed once for `precision`; `self` when it is already in it.
    public func with(precision: Precision) -> BertModel {
        precision == self.precision ? self
            : BertModel(config: config, weights: weights, source: source, precision: precision)
    }

    static func requireFile(_ folder: URL, _ name: String) throws -> URL {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) else {
            throw BertologyError.io(folder.path, "no such checkpoint folder")
        }
        guard isDirectory.boolValue else {
            throw BertologyError.io(folder.path, "not a folder (a checkpoint is a folder with config.json, vocab.txt, model.safetensors)")
        }
        let url = folder.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw BertologyError.io(url.path, "missing (a checkpoint folder needs config.json, vocab.txt and model.safetensors)")
        }
        return url
    }

    /// Whether the checkpoint has a pooler (`pooler.dense`).
    public var hasPooler: Bool { weights.pooler != nil }
    /// Whether the checkpoint has a sequence-classification head (`classifier`).
    public var hasClassifier: Bool { weights.classifier != nil }
    /// Transformer layers (`num_hidden_layers`).
    public var layerCount: Int { config.numHiddenLayers }
    /// Attention heads per layer (`num_attention_heads`).
    public var headCount: Int { config.numAttentionHeads }

    /// A model of `config`'s shape with seeded random weights (normal, std `initializerRange`, as
    /// Hugging Face initialises BERT), for performance work and tests; no file involved.
    public static func random(config: BertConfig, seed: UInt64, initializerRange: Float = 0.02,
                              pooler: Bool = true, classifier: Bool = false) -> BertModel {
        var generator = SeededGenerator(seed: seed)
        let c = config.hiddenSize, i = config.intermediateSize
        func normal(_ shape: [Int]) -> Tensor {
            let tensor = Tensor(zeros: shape)
            for index in 0..<tensor.count { tensor.mutablePointer[index] = initializerRange * generator.nextNormal() }
            return tensor
        }
        func filled(_ shape: [Int], _ value: Float) -> Tensor {
            let tensor = Tensor(zeros: shape)
            tensor.mutablePointer.update(repeating: value, count: tensor.count)
            return tensor
        }
        let layers = (0..<config.numHiddenLayers).map { _ in
            LayerWeights(qkvWeight: PackedWeight(packing: normal([3 * c, c])), qkvBias: filled([3 * c], 0),
                         attentionOutputWeight: PackedWeight(packing: normal([c, c])), attentionOutputBias: filled([c], 0),
                         attentionNormWeight: filled([c], 1), attentionNormBias: filled([c], 0),
                         intermediateWeight: PackedWeight(packing: normal([i, c])), intermediateBias: filled([i], 0),
                         outputWeight: PackedWeight(packing: normal([c, i])), outputBias: filled([c], 0),
                         outputNormWeight: filled([c], 1), outputNormBias: filled([c], 0))
        }
        let weights = BertWeights(
            wordEmbeddings: normal([config.vocabSize, c]),
            positionEmbeddings: normal([config.maxPositionEmbeddings, c]),
            tokenTypeEmbeddings: normal([config.typeVocabSize, c]),
            embeddingNormWeight: filled([c], 1), embeddingNormBias: filled([c], 0),
            layers: layers,
            pooler: pooler ? (PackedWeight(packing: normal([c, c])), filled([c], 0)) : nil,
            classifier: classifier ? (PackedWeight(packing: normal([config.numLabels, c])), filled([config.numLabels], 0)) : nil)
        return BertModel(config: config, weights: weights, source: "random(seed: \(seed))")
    }
}

/// splitmix64: a small, fast, seedable generator, so "seeded" means the same numbers everywhere.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator whose sequence depends only on `seed` (every platform gives the same numbers).
    public init(seed: UInt64) { state = seed }

    /// The next 64 uniformly distributed random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal value (Box-Muller).
    mutating func nextNormal() -> Float {
        let u1 = max(Double(next() >> 11) / Double(1 << 53), .leastNormalMagnitude)
        let u2 = Double(next() >> 11) / Double(1 << 53)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
    }
}
