import BertologyEngine
import Foundation

extension ReproductionReport {
    /// Reads the stages' files and writes the run's `reproduce.json`, `index.html` and `timing.json`
    /// (the only file with wall times) into `folder`, atomically, in that order.
    static func write(plan: ReproductionPlan, options: ReproductionOptions, identity: [String: String],
                      checkpoint: Checkpoint, folder: URL) throws -> ReproductionReport {
        let report = try read(plan: plan, options: options, identity: identity, checkpoint: checkpoint, folder: folder)
        try AtomicFile.write(JSONOutput.encode(report, pretty: true), to: folder.appendingPathComponent("reproduce.json"))
        try AtomicFile.write(ReproductionPage.html(report, plan: plan, options: options, folder: folder),
                             to: folder.appendingPathComponent("index.html"))
        var seconds: [String: Double] = [:]
        for stage in plan.stages {
            let url = folder.appendingPathComponent(stage.id).appendingPathComponent(StageTiming.fileName)
            if let timing = try? JSONDecoder().decode(StageTiming.self, from: Data(contentsOf: url)) { seconds[stage.id] = timing.seconds }
        }
        try AtomicFile.write(JSONOutput.encode(RunTiming(stages: seconds, totalSeconds: seconds.values.reduce(0, +),
                                                         estimatedSeconds: plan.estimatedSeconds), pretty: true),
                             to: folder.appendingPathComponent("timing.json"))
        return report
    }
}

/// `timing.json`: each stage's wall time (of its last run), their sum, and the plan's estimate.
struct RunTiming: Codable {
    let stages: [String: Double]
    let totalSeconds: Double
    let estimatedSeconds: Double

    enum CodingKeys: String, CodingKey {
        case stages, totalSeconds = "total_seconds", estimatedSeconds = "estimated_seconds"
    }
}

/// The run's `index.html`: Table 1 beside the paper's, the claims, per task the figures, the viewer, links to every file.
enum ReproductionPage {
    /// Fig 2 read from the figure (percent): vertical, diagonal, vertical+diagonal, block, heterogeneous.
    static let paperPatterns: [GLUETask: [Double]] = [
        .mrpc: [42, 8, 19, 4, 28], .stsb: [29, 5, 8, 6, 53], .sst2: [36, 6, 13, 4, 41], .qqp: [25, 8, 7, 3, 58],
        .rte: [41, 7, 14, 4, 35], .qnli: [34, 5, 23, 3, 35], .mnli: [22, 5, 12, 3, 58],
    ]
    /// Fig 5 read from the figure: mean cosine per layer, L1-L12 (bert-base).
    static let paperCosine: [GLUETask: [Double]] = [
        .mrpc: [0.99, 0.98, 0.93, 0.81, 0.83, 0.91, 0.88, 0.79, 0.66, 0.70, 0.38, 0.43],
        .stsb: [0.99, 0.94, 0.94, 0.92, 0.87, 0.95, 0.91, 0.92, 0.89, 0.82, 0.63, 0.51],
        .sst2: [0.99, 0.95, 0.96, 0.92, 0.90, 0.96, 0.93, 0.90, 0.89, 0.81, 0.67, 0.69],
        .qqp: [0.97, 0.95, 0.90, 0.87, 0.79, 0.83, 0.81, 0.80, 0.74, 0.70, 0.66, 0.74],
        .rte: [0.99, 0.95, 0.96, 0.90, 0.89, 0.93, 0.92, 0.88, 0.89, 0.84, 0.58, 0.54],
        .qnli: [0.98, 0.93, 0.95, 0.91, 0.91, 0.93, 0.90, 0.87, 0.82, 0.76, 0.66, 0.63],
        .mnli: [0.97, 0.84, 0.93, 0.90, 0.88, 0.91, 0.86, 0.86, 0.79, 0.73, 0.61, 0.61],
    ]

    static func format(_ value: Double?, _ digits: Int = 1) -> String { value.map { XMLText.format($0, digits: digits) } ?? "n/a" }

    /// Our Table 1 cell, x100: MRPC and QQP `F1 / acc`, STS-B Pearson, the others accuracy.
    static func cell(_ task: GLUETask, _ dev: [String: Double]?) -> String {
        guard let dev else { return "n/a" }
        switch task {
        case .mrpc, .qqp: return "\(format(dev["f1"].map { 100 * $0 })) / \(format(dev["accuracy"].map { 100 * $0 }))"
        case .stsb: return format(dev["pearson"].map { 100 * $0 })
        default: return format(dev[task.headlineMetric.rawValue].map { 100 * $0 })
        }
    }

    static func untrainedCell(_ task: GLUETask, _ result: ReproductionReport.TaskResult) -> String {
        guard let range = result.untrainedRange else { return "n/a" }
        let names: [String] = switch task {
        case .mrpc, .qqp: ["f1", "accuracy"]
        case .stsb: ["pearson"]
        default: [task.headlineMetric.rawValue]
        }
        return names.map { name in
            guard let r = range[name] else { return "n/a" }
            return "\(format(100 * r.mean)) [\(format(100 * r.min))-\(format(100 * r.max))]"
        }.joined(separator: " / ")
    }

    /// The SVG file `name` of a stage folder, for inlining; nil when absent.
    static func svg(_ folder: URL, _ stage: String, _ name: String) -> String? {
        (try? Data(contentsOf: folder.appendingPathComponent(stage).appendingPathComponent(name))).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every regular, non-hidden file of a stage folder, relative to the run's folder, sorted.
    static func files(_ folder: URL, _ stage: String) -> [String] {
        let url = folder.appendingPathComponent(stage)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.filter { name in
            var isFolder: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path, isDirectory: &isFolder) && !isFolder.boolValue
        }.sorted().map { "\(stage)/\($0)" }
    }

    /// Per stage, one line: its id (linked to its own report when it has one) and every file it wrote.
    static func fileList(_ folder: URL, _ stages: [ReproductionStage]) -> String {
        var lines = ["<ul class=\"stage-files\">"]
        for stage in stages {
            let names = files(folder, stage.id).map { String($0.dropFirst(stage.id.count + 1)) }
            let id = XMLText.escape(stage.id)
            let title = names.contains("index.html") ? "<a href=\"\(id)/index.html\">\(id)</a>" : id
            let links = names.map { "<a href=\"\(id)/\(XMLText.escape($0))\">\(XMLText.escape($0))</a>" }.joined(separator: " ")
            lines.append("<li><b>\(title)</b>: \(links)</li>")
        }
        lines.append("</ul>")
        return lines.joined(separator: "\n")
    }

    static func html(_ report: ReproductionReport, plan: ReproductionPlan, options: ReproductionOptions, folder: URL) -> String {
        var sections: [HTMLReport.Section] = []
        // Table 1.
        var table1 = HTMLReport.Section(title: "Table 1: pre-trained, random init, fine-tuned", id: "table1")
        table1.paragraphs = [
            "Dev scores x100. The paper's numbers are bert-base-uncased (12 layers x 12 heads); ours are \(report.model). No fine-tuning: a new classifier on the pre-trained encoder, untrained, scored under seeds \(options.untrainedSeeds.map(String.init).joined(separator: ", ")) (mean [min-max]). Fine-tuned: \(options.epochs) epochs, batch \(options.batchSize), \(options.maxLength) tokens, seed \(options.seeds.map(String.init).joined(separator: ", ")) (the first seed shown\(options.seeds.count > 1 ? "; every seed is in reproduce.json" : "")).",
        ] + (options.limit.map { ["A seeded sample of \($0) train and \($0) dev examples per task: a quick run, not the paper's protocol."] } ?? [])
        table1.tables = [HTMLReport.Table(
            caption: "Table 1 (paper | ours)", header: ["task", "metric", "no fine-tuning: paper", "ours", "random init + fine-tuned: paper", "ours", "pre-trained + fine-tuned: paper", "ours"],
            rows: report.tasks.filter(\.fineTuned).compactMap { result in
                guard let task = GLUETask(rawValue: result.task) else { return nil }
                let paper = PaperNumbers.table1[task]
                return [result.task, paper?.metric ?? result.headlineMetric, paper?.untrained ?? "-", untrainedCell(task, result),
                        paper?.random ?? "-", cell(task, result.randomFineTuned?.first?.dev),
                        paper?.pretrained ?? "-", cell(task, result.pretrainedFineTuned?.first?.dev)]
            })]
        table1.files = ["reproduce.json", "plan.json", "timing.json"]
        sections.append(table1)

        var claims = HTMLReport.Section(title: "The paper's claims on this model", id: "claims")
        claims.paragraphs = ["Each claim of the paper, the number the paper gives, the number measured here, and whether the claim holds on this model and data (yes / no; n/a when it cannot be measured)."]
        claims.tables = [HTMLReport.Table(header: ["section", "claim", "task", "paper", "ours", "holds"],
                                          rows: report.claims.map { [$0.section, $0.claim, $0.task, $0.paper, $0.ours, $0.holds] })]
        sections.append(claims)

        for result in report.tasks {
            guard let task = GLUETask(rawValue: result.task) else { continue }
            let name = result.task
            var section = HTMLReport.Section(title: "\(name)", id: "task-\(name)")
            if !result.fineTuned {
                section.paragraphs.append("\(name) has a dev split but no train split in the GLUE folder: only the pre-trained model's analyses run (no fine-tuning, no comparison, no sweep).")
            }
            let (pretrained, finetuned) = (ReproductionStage.id(.analyzePretrained, task), ReproductionStage.id(.analyzeFinetuned, task))
            let (compare, ablate) = (ReproductionStage.id(.compare, task), ReproductionStage.id(.ablate, task))
            // §4.1 pattern types.
            let types = AttentionPattern.allCases
            var bars: [StackedBars.Bar] = []
            if let paper = paperPatterns[task] { bars.append(StackedBars.Bar(label: "paper", percentages: paper)) }
            for (label, shares) in [("pre-trained", result.patternsPretrained), ("fine-tuned", result.patternsFineTuned)] {
                if let shares { bars.append(StackedBars.Bar(label: label, percentages: types.map { shares[$0.name] ?? 0 })) }
            }
            let chart = StackedBars(title: "\(name): pattern types (§4.1, Fig 2)", subtitle: "share of (example, head) maps; paper: bert-base, read from its figure",
                                    categories: AnalysisReport.patternCategories, bars: bars)
            section.figures.append(HTMLReport.Figure(svg: chart.svg(), caption: "Pattern types of the pre-trained and the fine-tuned model beside the paper's Fig 2.",
                                                     files: ["\(pretrained)/patterns.json"] + (result.fineTuned ? ["\(finetuned)/patterns.json"] : [])))
            // §4.3 cosine.
            if result.fineTuned, let figure = svg(folder, compare, "cosine-cropped.svg") {
                section.figures.append(HTMLReport.Figure(svg: figure, caption: "Per-head cosine between the pre-trained and the fine-tuned maps (§4.3, Fig 5); low: the head changed.",
                                                         files: ["\(compare)/cosine.json", "\(compare)/cosine-cropped.csv", "\(compare)/cosine-cropped.npy"]))
                if let perLayer = result.cosinePerLayer {
                    var rows = [["ours"] + perLayer.map { format($0, 2) }]
                    if let paper = paperCosine[task] { rows.append(["paper (12 layers)"] + paper.map { format($0, 2) }) }
                    let width = max(perLayer.count, paperCosine[task]?.count ?? 0)
                    section.tables.append(HTMLReport.Table(caption: "Mean cosine per layer (1 = unchanged)",
                                                           header: [""] + (1...max(width, 1)).map { "L\($0)" },
                                                           rows: rows.map { $0 + Array(repeating: "", count: width + 1 - $0.count) }))
                }
            }
            // §4.4-4.5 special tokens.
            for (stage, label) in [(pretrained, "pre-trained"), (finetuned, "fine-tuned")] {
                for (grid, what) in [("special-tokens-cls.svg", "[CLS]"), ("special-tokens-sep-paper.svg", "[SEP]")] {
                    if let figure = svg(folder, stage, grid) {
                        section.figures.append(HTMLReport.Figure(svg: figure, caption: "Attention to \(what), \(label) model (§4.4, Fig 6).",
                                                                 files: ["\(stage)/special-tokens.json"]))
                    }
                }
            }
            // §4.2 relations.
            if result.relationHeads != nil, let figure = svg(folder, pretrained, "relations-score.svg") {
                section.figures.append(HTMLReport.Figure(svg: figure, caption: "Relation probe, pre-trained model (§4.2, Fig 3): attention from a word to its related word.",
                                                         files: ["\(pretrained)/relations.json"]))
            }
            // §4.6 ablation.
            if let ablation = result.ablation {
                for file in ["heads-\(ablation.metric).svg", "layers-\(ablation.metric).svg"] {
                    if let figure = svg(folder, ablate, file) {
                        section.figures.append(HTMLReport.Figure(svg: figure, caption: file.hasPrefix("heads")
                            ? "\(ablation.metric) with one head of the fine-tuned model switched off (§4.6, Fig 8); the orange line marks the baseline."
                            : "\(ablation.metric) with one whole layer switched off (§4.6, Fig 9).",
                            files: ["\(ablate)/ablation.json", "\(ablate)/\(file.replacingOccurrences(of: ".svg", with: ".csv"))"]))
                    }
                }
            }
            section.html = [fileList(folder, plan.stages.filter { $0.task == task && $0.kind != .viewer })]
            sections.append(section)
        }

        if let viewer = plan.stages.first(where: { $0.kind == .viewer }),
           let data = try? JSONDecoder().decode(AttentionViewerData.self, from: Data(contentsOf: folder.appendingPathComponent(viewer.id).appendingPathComponent("viewer.json"))) {
            var section = HTMLReport.Section(title: "Attention viewer (\(viewer.task.name))", id: "viewer")
            section.html = [AttentionViewer.fragment(data, id: "attention-viewer"), fileList(folder, [viewer])]
            sections.append(section)
        }

        if !report.missing.isEmpty {
            var section = HTMLReport.Section(title: "Tasks not run", id: "missing")
            section.paragraphs = report.missing.map { "\($0.task.name): \($0.reason)" }
            sections.append(section)
        }

        var parameters: [(name: String, value: String)] = [
            ("model", "\(report.model), " + report.modelFiles.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.prefix(12))" }.joined(separator: "; ")),
            ("tasks", report.tasks.map { $0.task + ($0.fineTuned ? "" : " (analyses only)") }.joined(separator: ", ")),
            ("seeds", options.seeds.map(String.init).joined(separator: ", ")),
            ("examples", options.limit.map { "seeded sample of \($0) train and dev examples per task" } ?? "whole train and dev splits"),
            ("analyses", "at most \(options.analysisExamples) dev examples (seeded sample), \(options.maxLength) tokens"),
            ("ablation", "\(options.ablationMode.rawValue), every head and every layer of the fine-tuned model (seed \(options.seeds[0]))"),
            ("Bertology", report.bertology),
        ]
        if let relations = options.relations { parameters.append(("relations", relations.lastPathComponent)) }
        let kept = switch options.keep {
        case .checkpoints: "everything (the fine-tuned models and their training checkpoints)"
        case .models: "the fine-tuned models; each training checkpoint (optimizer state) and the untrained classifier's model dropped once their stage was done"
        case .none: "no fine-tuned model: each dropped, with its training checkpoint, once every stage that reads it was done"
        }
        parameters.append(("kept", kept))
        if !report.dropped.isEmpty { parameters.append(("dropped", report.dropped.joined(separator: ", "))) }
        let page = HTMLReport(title: "Revealing the Dark Secrets of BERT, reproduced on \(report.model)",
                              subtitle: "Bertology reproduce: Kovaleva et al. (2019), Table 1 and §4.1-4.6, beside the paper's bert-base numbers. Every number is in reproduce.json; each stage's files are linked under its task.",
                              parameters: parameters, sections: sections)
        return page.html()
    }
}
