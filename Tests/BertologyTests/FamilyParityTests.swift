import Foundation
import Testing
@testable import BertologyEngine

/// Every encoder family beside BERT against transformers (eager attention, eval mode): small random-weight
/// `*ForSequenceClassification` checkpoints saved by transformers (odd sizes, every weight perturbed), padded
/// batches and pairs, with and without zero and uniform head interventions
/// (tools/reference/make_family_fixtures.py; the fixtures use ModelParityTests' format).
@Suite struct FamilyParityTests {
    static let familyModels = ["tiny-roberta", "tiny-xlm-roberta", "tiny-distilbert", "tiny-electra", "tiny-albert"]

    /// The issue's bounds: attentions within 1e-5 and last hidden states within 1e-4 of transformers; logits and
    /// mean-pooled embeddings within 1e-5.
    static let tolerance = ModelParityTests.Tolerance(hidden: 1e-4, attentions: 1e-5, small: 1e-5)

    @Test(arguments: familyModels)
    func familyMatchesTransformers(name: String) throws {
        try ModelParityTests.check(name, tolerance: Self.tolerance)
    }

    @Test(arguments: KernelISA.allCases.filter(\.isSupported))
    func everyKernelPathMatchesTransformersOnEveryFamily(isa: KernelISA) throws {
        try Kernels.withISA(isa) {
            for name in Self.familyModels { try ModelParityTests.check(name, tolerance: Self.tolerance) }
        }
    }

    @Test(arguments: familyModels)
    func familyIsReadFromModelType(name: String) throws {
        let model = try BertModel.load(folder: TestPaths.fixture("models/\(name)"))
        let expected: ModelFamily = switch name {
        case "tiny-roberta": .roberta
        case "tiny-xlm-roberta": .xlmRoberta
        case "tiny-distilbert": .distilbert
        case "tiny-electra": .electra
        default: .albert
        }
        #expect(model.config.family == expected)
        #expect(model.hasClassifier && model.hasPooler)
    }

    /// ALBERT shares one layer's weights across layers; switching off a head of layer 3 changes only layer 3's
    /// computation: layers 1 and 2 see the same probabilities as with nothing switched off.
    @Test func albertAblationChangesOnlyItsLayer() throws {
        let model = try BertModel.load(folder: TestPaths.fixture("models/tiny-albert"))
        let batch = Batch(inputIds: [[2, 10, 20, 30, 40, 3], [2, 11, 12, 3]])
        let plain = ModelParityTests.AttentionRecorder(), ablated = ModelParityTests.AttentionRecorder()
        try InferenceSession(model: model).forward(batch, observer: plain)
        var interventions = HeadInterventions(layerCount: model.layerCount, headCount: model.headCount)
        interventions.set(.zero, for: HeadID(layer: 2, head: 1))
        try InferenceSession(model: model).forward(batch, interventions: interventions, observer: ablated)
        #expect(plain.layers[0] == ablated.layers[0] && plain.layers[1] == ablated.layers[1])
        #expect(plain.layers[2] != ablated.layers[2])
    }

    @Test func unknownModelTypeNamesTheFamiliesThatLoad() throws {
        let json = #"{"model_type": "gpt2", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8}"#
        #expect {
            try BertConfig.parse(Data(json.utf8), file: "config.json")
        } throws: { error in
            "\(error)".contains("bert, roberta, xlm-roberta, distilbert, electra, albert")
        }
    }
}
