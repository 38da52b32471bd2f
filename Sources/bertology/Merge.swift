import ArgumentParser
import Bertology
import Foundation

struct Merge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join the parts (--shard I/N) of an ablation sweep into the outputs of one run.",
        discussion: """
        Example: bertology merge out/part1 out/part2 out/part3 --out out/stsb-ablation
        Each FOLDER holds a part's ablation-journal.jsonl (a journal file may be named directly). Checks that the
        parts come from the same model, data and options, that every part 1..N is there once and finished, and that
        their baselines agree; then writes the files a single run writes, byte for byte (docs/ABLATION.md).
        """)

    @Argument(help: ArgumentHelp("Folders of the parts (or their journal files).", valueName: "FOLDER"))
    var parts: [String]

    @Option(help: ArgumentHelp("Output folder (created; refused when it exists and is not empty, unless --force).", valueName: "OUTDIR"))
    var out: String

    @Flag(help: "Write into --out even when it is not empty (files of the same names are replaced).")
    var force = false

    @Flag(help: "Print ablation.json's content as one JSON line instead of the summary.")
    var json = false

    func validate() throws {
        guard !parts.isEmpty else { throw BertologyError.usage("give the folders of the parts to merge") }
    }

    func run() async throws {
        let journals = parts.map { path -> URL in
            let url = URL(fileURLWithPath: path)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
                return url.appendingPathComponent(AblationJournal.fileName)
            }
            return url
        }
        // The parts are read (and every problem with them reported) before the output folder is opened.
        let results = try AblationResults.merge(journals: journals)
        let files = try await withOutputFolder(out, force: force) { folder in
            let files = try AblationReport.write(results, to: folder)
            try AblationReport.writeRunInfo(results, to: folder, commandLine: CommandLine.arguments.joined(separator: " "),
                                            modelPath: nil, dataPath: nil)
            return files
        }
        emit(json ? try AblationReport.jsonLine(results) : AblationSweepSummary.text(results))
        say("merge: \(journals.count) parts, wrote \(files.count + 1) files to \(URL(fileURLWithPath: out).path); open \(URL(fileURLWithPath: out).appendingPathComponent("index.html").path)")
    }
}
