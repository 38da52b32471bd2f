import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// Fine-tuning every encoder family beside BERT against PyTorch: the loss and every parameter's gradient of
/// transformers' `*ForSequenceClassification` (train() mode, dropout off) on a padded batch of pairs, from the
/// family fixtures (tools/reference/family_training_reference.py → Fixtures/training/tiny-<family>). ALBERT's
/// shared layer gets the sum of every layer's gradient, as autograd gives it. Tolerance as TrainingTests: 1e-5 of
/// each tensor's largest |value| (key biases against their key weights: their exact gradient is 0).
@Suite struct FamilyTrainingTests {
    static let families = FamilyParityTests.familyModels

    struct Reference {
        let manifest: [String: JSONValue]
        let parameters: [(name: String, shape: [Int], offset: Int)]
        let gradients: [Float]

        init(_ name: String) throws {
            let url = TestPaths.fixture("training/\(name).json")
            manifest = try #require(try JSONValue.parse(Data(contentsOf: url), file: url.path).object)
            parameters = try #require(manifest["parameters"]?.array).map { entry in
                let fields = try #require(entry.object)
                return (try #require(fields["name"]?.string), try #require(fields["shape"]?.array).map { try #require($0.integer) },
                        try #require(fields["offset"]?.integer))
            }
            gradients = try NPY.read(TestPaths.fixture("training/\(name)/gradients.npy")).values
        }

        func rows(_ key: String) throws -> [[Int32]] {
            try #require(manifest[key]?.array).map { try #require($0.array).map { Int32(try #require($0.integer)) } }
        }
    }

    @Test(arguments: families)
    func lossAndEveryGradientMatchTransformers(name: String) throws {
        let reference = try Reference(name)
        let model = try BertModel.load(folder: TestPaths.fixture("models/\(name)"))
        let trainer = try SequenceClassifierTrainer(model: model, numLabels: 3, initialization: .pretrained, seed: 1,
                                                    hiddenDropout: 0, attentionDropout: 0)
        for (parameter, values) in try #require(reference.manifest["classifier"]?.object) {
            try trainer.setParameter(parameter, values: try #require(values.array).map { Float(try #require($0.double)) })
        }
        let lengths = try #require(reference.manifest["lengths"]?.array).map { try #require($0.integer) }
        let ids = try reference.rows("input_ids"), types = try reference.rows("token_type_ids")
        let batch = Batch(inputIds: zip(ids, lengths).map { Array($0.prefix($1)) },
                          tokenTypeIds: zip(types, lengths).map { Array($0.prefix($1)) },
                          padId: Int32(model.config.padTokenId), padTo: ids[0].count)
        let targets = TrainingTargets.classes(try #require(reference.manifest["targets"]?.array).map { Int32(try #require($0.integer)) })
        let loss = try trainer.computeGradients(batch, targets: targets, step: 1, dropout: false)
        let expected = try #require(reference.manifest["loss"]?.double)
        #expect(abs(loss - expected) <= 1e-5 * abs(expected), "\(name): loss \(loss), transformers \(expected)")

        let ours = Dictionary(uniqueKeysWithValues: trainer.namedGradients().map { ($0.name, $0.tensor) })
        #expect(ours.count == reference.parameters.count, "\(name): \(ours.count) parameters, transformers \(reference.parameters.count)")
        func slice(_ entry: (name: String, shape: [Int], offset: Int)) -> ArraySlice<Float> {
            reference.gradients[entry.offset..<(entry.offset + entry.shape.reduce(1, *))]
        }
        let keyWeights = Dictionary(uniqueKeysWithValues: reference.parameters.filter { $0.name.hasSuffix("key.weight") || $0.name.hasSuffix("k_lin.weight") }
            .map { (String($0.name.dropLast("weight".count)), slice($0).map(abs).max() ?? 0) })
        var worst: Float = 0
        for entry in reference.parameters {
            guard let tensor = ours[entry.name] else {
                Issue.record("\(name): no parameter \(entry.name)")
                continue
            }
            #expect(tensor.shape == entry.shape, "\(name) \(entry.name)")
            let expected = slice(entry)
            let isKeyBias = entry.name.hasSuffix("key.bias") || entry.name.hasSuffix("k_lin.bias")
            let scale = isKeyBias ? keyWeights[String(entry.name.dropLast("bias".count)), default: 1] : (expected.map(abs).max() ?? 0)
            let difference = zip(tensor.array, expected).map { abs($0 - $1) }.max() ?? 0
            let relative = difference / max(scale, .leastNormalMagnitude)
            if !isKeyBias { worst = max(worst, relative) }
            #expect(relative <= 1e-5, "\(name) \(entry.name): max |difference| \(difference), \(relative) of the largest |value| \(scale)")
        }
        print("gradients \(name): largest error \(worst) of a tensor's largest |value|, loss \(loss) vs \(expected)")
    }

    /// A trainer's inference model of any family gives the logits its training pass gives (dropout off).
    @Test(arguments: families)
    func inferenceModelGivesTheTrainersLogits(name: String) throws {
        let model = try BertModel.load(folder: TestPaths.fixture("models/\(name)"))
        let trainer = try SequenceClassifierTrainer(model: model, numLabels: 3, initialization: .pretrained, seed: 3)
        let batch = Batch(inputIds: [[model.config.family == .roberta || model.config.family == .xlmRoberta ? 0 : 2, 10, 11, 12, 3],
                                     [2, 20, 3]], padId: Int32(model.config.padTokenId))
        _ = try trainer.computeGradients(batch, targets: .classes([0, 1]), step: 1, dropout: false, backward: false)
        let trained = trainer.activations.logits.pointer
        let session = InferenceSession(model: try trainer.inferenceModel())
        try session.forward(batch)
        for example in 0..<2 {
            let logits = try #require(session.logits(example: example))
            for label in 0..<3 { #expect(abs(logits[label] - trained[example * 3 + label]) <= 1e-5, "\(name) example \(example)") }
        }
    }
}
