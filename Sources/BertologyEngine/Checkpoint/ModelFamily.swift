internal import CKernels
import Foundation

/// The encoder families Bertology loads, named by `config.json`'s `model_type`.
///
/// Every family is a post-LayerNorm Transformer encoder with BERT's self-attention; what differs is described
/// as data, not as another forward pass: how the input embeddings are made (``positionOffset``,
/// ``usesTokenTypes``, a projection when `embedding_size` differs from `hidden_size`), the feed-forward
/// activation, whether layers share weights (ALBERT), the weight names, and the classification head
/// (docs/MODELS.md has the table).
public enum ModelFamily: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// BERT (`bert`): absolute positions, two token types, pooler + classifier.
    case bert
    /// RoBERTa (`roberta`): positions counted from the padding index, one token type, no pooler in the
    /// classifier; its head is dense + tanh + out_proj on `<s>`.
    case roberta
    /// XLM-RoBERTa (`xlm-roberta`): RoBERTa's architecture (with a SentencePiece vocabulary).
    case xlmRoberta = "xlm-roberta"
    /// DistilBERT (`distilbert`): no token types, no pooler, its own weight names; head pre_classifier + ReLU.
    case distilbert
    /// ELECTRA (`electra`, the discriminator): BERT's block, embeddings of `embedding_size` projected to
    /// `hidden_size`; head dense + GELU + out_proj.
    case electra
    /// ALBERT (`albert`): factorised embeddings projected up, one set of layer weights shared by every layer
    /// (per hidden group), pooler + classifier.
    case albert

    /// The `model_type` string.
    public var description: String { rawValue }

    /// The prefix of the encoder's weights in a `*ForSequenceClassification` checkpoint ("roberta." for XLM-R too).
    var weightPrefix: String {
        switch self {
        case .bert: "bert."
        case .roberta, .xlmRoberta: "roberta."
        case .distilbert: "distilbert."
        case .electra: "electra."
        case .albert: "albert."
        }
    }

    /// Position ids start after the padding index (`padding_idx + 1 + t`, RoBERTa and XLM-R); nil when they are 0, 1, 2, ...
    func positionOffset(padTokenId: Int) -> Int? {
        switch self {
        case .roberta, .xlmRoberta: padTokenId + 1
        default: nil
        }
    }

    /// Whether the model reads the tokenizer's token type ids (segment ids). RoBERTa and XLM-R have one
    /// token-type row that every token gets (their tokenizers return no type ids); DistilBERT has none.
    var usesTokenTypes: Bool {
        switch self {
        case .bert, .electra, .albert: true
        case .roberta, .xlmRoberta, .distilbert: false
        }
    }

    /// Whether the classification head drops out the first token's hidden state before its dense layer
    /// (RoBERTa's, XLM-R's and ELECTRA's `ClassificationHead`).
    var dropsHeadInput: Bool {
        switch self {
        case .roberta, .xlmRoberta, .electra: true
        default: false
        }
    }

    /// Whether the embeddings have a token-type table at all.
    var hasTokenTypeEmbeddings: Bool { self != .distilbert }

    /// transformers' sequence-classification class of the family ("RobertaForSequenceClassification"), which a
    /// fine-tuned folder's config.json names in `architectures`.
    public var sequenceClassifierName: String {
        switch self {
        case .bert: "BertForSequenceClassification"
        case .roberta: "RobertaForSequenceClassification"
        case .xlmRoberta: "XLMRobertaForSequenceClassification"
        case .distilbert: "DistilBertForSequenceClassification"
        case .electra: "ElectraForSequenceClassification"
        case .albert: "AlbertForSequenceClassification"
        }
    }

    /// The families that load, for error messages: "bert, roberta, xlm-roberta, distilbert, electra, albert".
    static var supportedList: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// An element-wise activation: the feed-forward block's (`hidden_act`) or a classification head's.
public enum Activation: String, Sendable, Codable, CaseIterable {
    /// The exact (erf) GELU, transformers' "gelu" (fused into the linear layer's epilogue).
    case gelu
    /// The tanh approximation, transformers' "gelu_new" (ALBERT's default).
    case geluTanh = "gelu_new"
    /// max(x, 0).
    case relu
    /// tanh (the pooler, RoBERTa's classification head).
    case tanh

    /// The activation `hidden_act` names, accepting transformers' aliases of the same function.
    init?(huggingFaceName name: String) {
        switch name {
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "relu": self = .relu
        case "tanh": self = .tanh
        default: return nil
        }
    }

    var kernelValue: Int32 {
        switch self {
        case .gelu: Int32(CK_ACTIVATION_GELU.rawValue)
        case .geluTanh: Int32(CK_ACTIVATION_GELU_TANH.rawValue)
        case .relu: Int32(CK_ACTIVATION_RELU.rawValue)
        case .tanh: Int32(CK_ACTIVATION_TANH.rawValue)
        }
    }
}
