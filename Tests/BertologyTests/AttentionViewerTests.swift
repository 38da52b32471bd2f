import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The attention viewer's data (`AttentionViewerData.build`) on a tiny fixture model: its shapes,
/// the 8-bit maps against the maps the analyses see, and the pattern types against the pattern
/// analysis (`AttentionPatternTypes`, which keeps every map as a sample when asked to). The page
/// itself is driven in headless Chromium by tools/viewer-check.
@Suite struct AttentionViewerTests {
    static let model = TestPaths.fixture("models/tiny-classifier")
    static let glueFormat = TestPaths.fixture("glue-format")
    static let (examples, maxTokens, seed): (Int, Int, UInt64) = (8, 16, 42)

    static func build(headScores: AttentionViewerData.HeadScores? = nil) throws -> (Checkpoint, GLUEDataset, AttentionViewerData) {
        let checkpoint = try Checkpoint.load(model)
        let dataset = try GLUEDataset.load(task: .mnli, split: .dev, folder: glueFormat)
        let data = try AttentionViewerData.build(pretrained: checkpoint, finetuned: checkpoint, dataset: dataset,
                                                 examples: examples, headScores: headScores, maxTokens: maxTokens, seed: seed)
        return (checkpoint, dataset, data)
    }

    @Test func buildKeepsEveryMapOfTheSeededSampleTruncatedToTheTokenCap() throws {
        let (checkpoint, dataset, data) = try Self.build()
        let (layers, heads) = (checkpoint.model.layerCount, checkpoint.model.headCount)
        #expect(data.layerCount == layers && data.headCount == heads && data.maxTokens == Self.maxTokens)
        let sample = dataset.sampled(limit: Self.examples, seed: Self.seed)
        #expect(data.examples.map(\.index) == sample.examples.map(\.index))
        #expect(data.population == dataset.examples.count && data.task == "MNLI")
        for (example, source) in zip(data.examples, sample.examples) {
            let encoding = checkpoint.tokenizer.encode(source.textA, pair: source.textB, maxLength: Self.maxTokens)
            #expect(example.tokens == encoding.tokens && example.truncated == encoding.truncated)
            #expect(example.tokens.count <= Self.maxTokens)
            #expect(example.tokens[example.segmentStart - 1] == "[SEP]" && example.segmentStart < example.tokens.count)
        }
        #expect(data.examples.contains { $0.truncated }, "the fixture should exercise the token cap")
        for maps in [data.pretrained, data.finetuned!] {
            #expect(maps.maps.count == Self.examples && maps.patterns.count == Self.examples)
            for (e, example) in data.examples.enumerated() {
                let n = example.tokens.count
                #expect(maps.maps[e].count == layers * heads * n * n)
                #expect(maps.patterns[e].count == layers * heads)
            }
        }
        // The same model twice: the same bytes.
        #expect(data.finetuned!.maps == data.pretrained.maps)
        // Rows of probabilities: each quantised row sums to about 255.
        let row = data.map(example: 0, layer: 1, head: 2)
        let n = data.examples[0].tokens.count
        for i in 0..<n { #expect(abs(row[(i * n)..<((i + 1) * n)].reduce(0, +) - 1) < Float(n) / 510 + 1e-5) }
    }

    @Test func mapsAndPatternTypesEqualThePatternAnalysisOnTheSameExamples() throws {
        let (checkpoint, dataset, data) = try Self.build()
        let (layers, heads) = (checkpoint.model.layerCount, checkpoint.model.headCount)
        // The pattern analysis on the same sample and truncation, keeping every map as a sample.
        let options = AnalysisOptions(analyses: [.patterns], maxLength: Self.maxTokens, samplesPerType: Self.examples * layers * heads)
        let analysis = try AttentionAnalysis(checkpoint: checkpoint, dataset: dataset.sampled(limit: Self.examples, seed: Self.seed),
                                             options: options)
        let patterns = try #require(try analysis.run().patterns)
        #expect(patterns.samples.count == Self.examples * layers * heads)
        var worst: Float = 0
        for sample in patterns.samples {
            let (e, layer, head) = (sample.row, sample.head.layer, sample.head.head)
            #expect(data.pretrained.patterns[e][layer * heads + head] == sample.pattern, "example \(e) L\(layer + 1)-H\(head + 1)")
            #expect(sample.side == data.examples[e].tokens.count)
            let stored = data.map(example: e, layer: layer, head: head)
            for (a, b) in zip(stored, sample.pixels) { worst = max(worst, abs(a - b)) }
        }
        #expect(worst <= 1.0 / 510 + 1e-6, "8-bit quantisation is within half a step: \(worst)")
        // And the per-head counts agree.
        for layer in 0..<layers {
            for head in 0..<heads {
                var counts = [Int](repeating: 0, count: AttentionPattern.allCases.count)
                for e in 0..<Self.examples { counts[data.pretrained.patterns[e][layer * heads + head].rawValue] += 1 }
                #expect(counts == patterns.countsPerHead[layer * heads + head])
            }
        }
    }

    @Test func dataRoundTripsThroughJSONAndThePageEmbedsItSafely() throws {
        let scores = AttentionViewerData.HeadScores(metric: "accuracy", baseline: 0.5,
                                                    scores: [[0.5, 0.45, 0.55], [0.4, 0.5, 0.6]])
        var (_, _, data) = try Self.build(headScores: scores)
        let decoded = try JSONDecoder().decode(AttentionViewerData.self, from: JSONOutput.encode(data))
        #expect(decoded == data)
        // Text that would end a script element stays inside the JSON.
        data.examples[0].textA = "a </script><script>alert(1)</script> <!-- b"
        let page = AttentionViewer.page(data, title: "Viewer </script> test")
        #expect(page.components(separatedBy: "</script>").count - 1 == 3)
        #expect(!page.contains("<!-- b") && !page.contains("http://") && !page.contains("https://"))
        let fragment = AttentionViewer.fragment(data, id: "v1")
        #expect(fragment.hasPrefix("<section class=\"bv-viewer\" id=\"v1\"") && fragment.hasSuffix("</section>"))
        let json = try #require(fragment.components(separatedBy: "<script type=\"application/json\" class=\"bv-data\">").last?
            .components(separatedBy: "</script>").first)
        #expect(try JSONDecoder().decode(AttentionViewerData.self, from: Data(json.utf8)) == data)
    }

    /// The web files are compiled in by the EmbedWebResources plugin: each file of Resources/web is a
    /// `WebResource` whose text is the file's, byte for byte (a stale or missing build step shows here).
    @Test func everyWebFileIsCompiledInAsItIsOnDisk() throws {
        let folder = TestPaths.repositoryRoot.appendingPathComponent("Sources/BertologyExperiments/Resources/web")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { ["css", "js", "html"].contains(($0 as NSString).pathExtension) }
        #expect(Set(names) == Set(WebResource.allCases.map(\.rawValue)))
        for resource in WebResource.allCases {
            let file = try String(contentsOf: folder.appendingPathComponent(resource.rawValue), encoding: .utf8)
            #expect(WebResource.embedded[resource.rawValue] == file, "\(resource.rawValue)")
        }
    }

    /// A written page inlines the files (it stays one self-contained file) and fills every placeholder;
    /// a placeholder's value is never searched for more placeholders.
    @Test func writtenPagesInlineTheWebFilesAndFillEveryPlaceholder() throws {
        var (_, _, data) = try Self.build()
        data.examples[0].textA = "{{viewer.js}} {{title}}"
        let page = AttentionViewer.page(data, title: "{{report.css}}")
        #expect(page.contains(WebResource.reportCSS.text) && page.contains(WebResource.viewerCSS.text))
        #expect(page.contains(AttentionViewer.javaScript))
        #expect(page.contains("bertologyAttentionViewerInline(document.currentScript.parentElement);"))
        #expect(page.contains("<title>{{report.css}}</title>") && page.contains("\"{{viewer.js}} {{title}}\""))
        #expect(page.components(separatedBy: "{{").count - 1 == 4, "the two of the title and the two of the example's text")
        #expect(page.hasPrefix("<!DOCTYPE html>\n") && page.hasSuffix("</body></html>\n"))
        let report = HTMLReport(title: "t", parameters: [("a", "b")], sections: []).html()
        #expect(report.contains("<style>\n" + WebResource.reportCSS.text + "\n</style></head><body>\n<h1>t</h1>"))
    }

    @Test func badInputsAreRefusedInOneLine() throws {
        let checkpoint = try Checkpoint.load(Self.model)
        let dataset = try GLUEDataset.load(task: .mnli, split: .dev, folder: Self.glueFormat)
        let wrong = AttentionViewerData.HeadScores(metric: "accuracy", baseline: 0.5, scores: [[0.5]])
        #expect(throws: BertologyError.self) {
            try AttentionViewerData.build(pretrained: checkpoint, finetuned: nil, dataset: dataset, examples: 2, headScores: wrong)
        }
        #expect(throws: BertologyError.self) {
            try AttentionViewerData.build(pretrained: checkpoint, finetuned: nil, dataset: dataset, examples: 0, headScores: nil)
        }
        let other = try Checkpoint.load(TestPaths.fixture("models/tiny-regression"))
        #expect(throws: BertologyError.self) {
            try AttentionViewerData.build(pretrained: checkpoint, finetuned: other, dataset: dataset, examples: 2, headScores: nil)
        }
    }

    @Test func headScoresLoadFromAnAblationFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("viewer-scores-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("ablation.json")
        try Data(#"{"primary_metric": "accuracy", "baseline": {"accuracy": 0.8}, "heads": {"accuracy": [[0.7, "NaN"], [0.9, 0.8]]}}"#.utf8).write(to: file)
        let scores = try AttentionViewerData.HeadScores.load(ablationFile: file)
        #expect(scores.metric == "accuracy" && scores.baseline == 0.8 && scores.scores[0][0] == 0.7 && scores.scores[1] == [0.9, 0.8])
        #expect(scores.scores[0][1].isNaN)
        try Data(#"{"heads": []}"#.utf8).write(to: file)
        #expect(throws: BertologyError.self) { try AttentionViewerData.HeadScores.load(ablationFile: file) }
    }
}
