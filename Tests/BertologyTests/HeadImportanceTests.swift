import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// Head-gate gradients (Michel et al.'s head importance) against PyTorch: transformers' `*ForSequenceClassification`
/// in eval mode with a gate parameter on every head (a hook on the output projection's input), each example
/// back-propagated alone (tools/reference/importance_reference.py → Fixtures/importance/gate_gradients.json). Ours run
/// the examples in one padded batch. Tolerance: 1e-4 of the largest |gradient| of the model (the bound for
/// importance; float32 backward passes in two orders of summation differ by about 1e-6 of it).
@Suite struct HeadImportanceTests {
    struct Case {
        let name: String
        let entry: [String: JSONValue]
    }

    static let reference: [String: JSONValue] = {
        let url = TestPaths.fixture("importance/gate_gradients.json")
        let data = (try? Data(contentsOf: url)) ?? Data()
        return (try? JSONValue.parse(data, file: url.path).object?["models"]?.object) ?? [:]
    }()

    static let models = ["tiny-classifier", "tiny-regression", "tiny-roberta", "tiny-xlm-roberta", "tiny-distilbert",
                         "tiny-electra", "tiny-albert"]

    static func batch(_ entry: [String: JSONValue], model: BertModel) throws -> (Batch, TrainingTargets) {
        func rows(_ key: String) throws -> [[Int32]] {
            try #require(entry[key]?.array).map { try #require($0.array).map { Int32(try #require($0.integer)) } }
        }
        let batch = Batch(inputIds: try rows("input_ids"), tokenTypeIds: try rows("token_type_ids"),
                          padId: Int32(model.config.padTokenId))
        let targets = try #require(entry["targets"]?.array)
        if model.config.numLabels == 1 {
            return (batch, .scores(try targets.map { Float(try #require($0.double)) }))
        }
        return (batch, .classes(try targets.map { Int32(try #require($0.integer)) }))
    }

    static func expected(_ entry: [String: JSONValue], _ key: String) throws -> [Float] {
        try #require(entry[key]?.object?["gradients"]?.array).flatMap { example in
            try #require(example.array).flatMap { layer in try #require(layer.array).map { Float(try #require($0.double)) } }
        }
    }

    @Test(arguments: models)
    func gateGradientsEqualTransformersPerExample(name: String) throws {
        let entry = try #require(Self.reference[name]?.object, "no reference for \(name)")
        let model = try BertModel.load(folder: TestPaths.fixture("models/\(name)"))
        let gates = try HeadGateGradients(model: model)
        let (batch, targets) = try Self.batch(entry, model: model)
        let removed = Set(try #require(entry["removed"]?.array).map { pair in
            let values = try #require(pair.array).map { try #require($0.integer) }
            return HeadID(layer: values[0], head: values[1])
        })
        for (key, gone) in [("kept", Set<HeadID>()), ("pruned", removed)] {
            let ours = try gates.gradients(batch, targets: targets, removed: gone).values
            // A removed head's gradient is reported as 0 (torch gives d L / d xi at xi = 0, which pruning never reads).
            let heads = gates.layerCount * gates.headCount
            let reference = try Self.expected(entry, key).enumerated().map { index, value in
                gone.contains(HeadID(layer: index % heads / gates.headCount, head: index % gates.headCount)) ? 0 : value
            }
            #expect(ours.count == reference.count)
            let scale = reference.map(abs).max() ?? 0
            let worst = zip(ours, reference).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-4 * scale, "\(name) \(key): largest difference \(worst), largest gradient \(scale)")
            for head in gone {
                for example in 0..<batch.size {
                    #expect(ours[(example * gates.layerCount + head.layer) * gates.headCount + head.head] == 0)
                }
            }
        }
    }

    @Test func gateGradientsAreTheSameBitsOnOneAndTwoThreads() throws {
        let entry = try #require(Self.reference["tiny-classifier"]?.object)
        let model = try BertModel.load(folder: TestPaths.fixture("models/tiny-classifier"))
        let (batch, targets) = try Self.batch(entry, model: model)
        func run(threads: Int) throws -> [Float] {
            let previous = Kernels.maxThreads
            Kernels.setThreads(threads)
            defer { Kernels.setThreads(previous) }
            return try HeadGateGradients(model: model).gradients(batch, targets: targets).values
        }
        #expect(try run(threads: 1) == run(threads: 2))
    }

    @Test func aModelWithoutAClassifierIsRefusedWithWhatItNeeds() throws {
        let model = try BertModel.load(folder: TestPaths.fixture("models/tiny-encoder-bf16"))
        #expect(throws: BertologyError.self) { try HeadGateGradients(model: model) }
        do { _ = try HeadGateGradients(model: model) } catch let error as BertologyError {
            #expect(error.description.contains("classification head"))
        }
    }
}
