import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The report writers: every SVG is well-formed XML, the HTML page is self-contained, the output
/// folder protects existing results.
@Suite(.serialized) struct ReportTests {
    static func temporaryFolder(_ name: String) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: url)
        return url
    }

    /// nil when `data` parses as XML, else the parser's complaint.
    static func xmlError(_ data: Data) -> String? {
        let parser = XMLParser(data: data)
        return parser.parse() ? nil : (parser.parserError.map { "\($0)" } ?? "unknown XML error")
    }

    @Test func everySVGParsesAsXMLAndTheHTMLReportIsSelfContained() throws {
        let checkpoint = try Checkpoint.load(TestPaths.defaultModel)
        let dataset = try GLUEDataset.load(task: .mrpc, split: .dev, folder: TestPaths.glue).sampled(limit: 16, seed: 3)
        let relations = try RelationProbeSet.load(TestPaths.repositoryRoot.appendingPathComponent("docs/examples/relations.jsonl"))
        let analysis = try AttentionAnalysis(checkpoint: checkpoint, dataset: dataset, comparison: checkpoint, relations: relations,
                                             options: AnalysisOptions(samplesPerType: 3))
        #expect(analysis.analyses == AnalysisKind.allCases)
        let results = try analysis.run()
        let url = Self.temporaryFolder("report")
        defer { try? FileManager.default.removeItem(at: url) }
        let written = try AnalysisReport.write(results, to: OutputFolder(url, force: false), commandLine: "bertology analyze <test> & \"quotes\"")
        #expect(written.last == "index.html")
        let files = try FileManager.default.contentsOfDirectory(atPath: url.path)
        #expect(Set(files) == Set(written), "no temporary files left, nothing unlisted")

        let svgs = files.filter { $0.hasSuffix(".svg") }
        #expect(svgs.count >= 20)
        for name in svgs {
            let data = try Data(contentsOf: url.appendingPathComponent(name))
            #expect(Self.xmlError(data) == nil, "\(name): \(Self.xmlError(data) ?? "")")
        }
        for name in ["patterns-distribution.svg", "patterns-dominant.svg", "patterns-samples.svg", "cosine-cropped.svg",
                     "relations-score.svg", "special-tokens-cls.svg", "entropy.svg"] {
            #expect(svgs.contains(name), "\(name) written")
        }

        let html = try String(contentsOf: url.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(!html.contains("http://") && !html.contains("https://"), "the report fetches nothing")
        #expect(!html.contains("<script") && !html.contains("<link"))
        // Every figure is inlined, and each inlined SVG is well-formed on its own.
        var inlined = 0
        var rest = html[...]
        while let open = rest.range(of: "<svg "), let close = rest.range(of: "</svg>", range: open.upperBound..<rest.endIndex) {
            let fragment = String(rest[open.lowerBound..<close.upperBound])
            #expect(Self.xmlError(Data(fragment.utf8)) == nil, "inline SVG \(inlined)")
            inlined += 1
            rest = rest[close.upperBound...]
        }
        #expect(inlined == svgs.count)
        #expect(html.contains("&lt;test&gt; &amp; &quot;quotes&quot;"), "parameters are escaped")

        // The data files: JSON objects, labelled CSV grids, float32 (layers, heads) arrays.
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent("special-tokens.json"))) as? [String: Any]
        #expect(json?["analysis"] as? String == "special-tokens")
        let csv = try String(contentsOf: url.appendingPathComponent("entropy.csv"), encoding: .utf8).split(separator: "\n")
        #expect(csv.first == "layer,H1,H2,H3,H4,H5,H6,H7,H8,H9,H10,H11,H12" && csv.count == 7 && csv[1].hasPrefix("L1,"))
        let npy = try NPY.read(url.appendingPathComponent("entropy.npy"))
        #expect(npy.shape == [6, 12])
        #expect(abs(Double(npy.values[13]) - results.entropy!.entropy[1, 1]) < 1e-6)
    }

    @Test func outputFolderRefusesANonEmptyFolderUnlessForced() throws {
        let url = Self.temporaryFolder("out")
        defer { try? FileManager.default.removeItem(at: url) }
        let folder = try OutputFolder(url, force: false)
        try folder.write("a", to: "old.txt")
        let error = #expect(throws: BertologyError.self) { try OutputFolder(url, force: false) }
        #expect(error?.kind == .usage && error?.reason.contains("`force`") == true)
        let forced = try OutputFolder(url, force: true)
        try forced.write("b", to: "old.txt")
        #expect(try String(contentsOf: url.appendingPathComponent("old.txt"), encoding: .utf8) == "b")
        // An empty existing folder is fine without force.
        let empty = Self.temporaryFolder("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        _ = try OutputFolder(empty, force: false)
    }

    @Test func heatmapMarksAValueOnTheColourBar() {
        var grid = HeadGrid(layerCount: 3, headCount: 4)
        for index in 0..<12 { grid[index / 4, index % 4] = 0.8 + Double(index) / 100 }
        var heatmap = Heatmap(title: "Score with one head disabled", subtitle: "RTE <dev>", grid: grid)
        heatmap.marker = Heatmap.Marker(value: 0.85, label: "baseline")
        heatmap.valueLabel = "accuracy"
        let svg = heatmap.svg()
        #expect(Self.xmlError(Data(svg.utf8)) == nil)
        #expect(svg.contains("baseline 0.850") && svg.contains("L2-H3: 0.8600") && svg.contains("RTE &lt;dev&gt;"))
        #expect(heatmap.effectiveRange == 0.8...0.91)
        // Categorical grids get a legend instead of a colour bar.
        var types = Heatmap(title: "types", rowLabels: ["L1"], columnLabels: ["H1", "H2"], values: [[0, nil]])
        types.categories = AnalysisReport.patternCategories
        let typed = types.svg()
        #expect(Self.xmlError(Data(typed.utf8)) == nil && typed.contains("L1-H1: Vertical") && typed.contains("L1-H2: no value"))
    }

    @Test func stackedBarsAndMapSheetsAreWellFormed() {
        let bars = StackedBars(title: "types", categories: AnalysisReport.patternCategories,
                               bars: [StackedBars.Bar(label: "all", percentages: [40, 5, 10, 5, 40]),
                                      StackedBars.Bar(label: "L1", percentages: [0, 0, 0, 0, 100])])
        #expect(Self.xmlError(Data(bars.svg().utf8)) == nil)
        let sheet = MapSheet(title: "maps", groups: [
            MapSheet.Group(title: "one", thumbnails: [MapSheet.Thumbnail(caption: "#1 L1-H1", notes: "a < b", side: 3,
                                                                          pixels: [1, 0, 0, 0, 1, 0, 0, 0, 1], segmentBoundary: 0.5)]),
            MapSheet.Group(title: "none", thumbnails: []),
        ])
        let svg = sheet.svg()
        #expect(Self.xmlError(Data(svg.utf8)) == nil && svg.contains("data:image/png;base64,"))
    }

    @Test func pngChecksumsAreTheStandardOnes() {
        // The CRC of the IEND chunk every PNG ends with, and Adler-32's textbook example.
        #expect(PNGImage.crc32(Data("IEND".utf8)) == 0xAE42_6082)
        #expect(PNGImage.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
        let png = PNGImage.indexed(width: 2, height: 1, indices: [0, 1], palette: [RGB(0, 0, 0), RGB(255, 255, 255)])
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.suffix(8) == Data([0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]))
    }

    @Test func csvGridIsLabelledAsThePaperLabelsHeads() {
        let grid = HeadGrid(layerCount: 2, headCount: 2, values: [0.5, 0.25, 1, 1e-7])
        #expect(CSVGrid.text(grid) == "layer,H1,H2\nL1,0.5,0.25\nL2,1.0,1e-07\n")
        #expect(CSVGrid.table(header: ["a", "b"], rows: [["x,y", "say \"hi\""]]) == "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n")
    }
}
