import BertologyEngine
import Foundation

/// `pruning-journal.jsonl`: a header line (what the run prunes, on which data, with which options) and one line per
/// scored pruning point, appended and fsynced as each is done, so an interrupted run continues where it stopped
/// (`prune --resume`). A torn last line (an interruption inside a write) is dropped on resume.
public final class PruningJournal {
    public static let fileName = "pruning-journal.jsonl"
    public static let format = "bertology-pruning-journal"
    public static let version = 1

    public struct Header: Codable, Equatable, Sendable {
        public var format = PruningJournal.format
        public var version = PruningJournal.version
        /// The model's name and its files' SHA-256.
        public let model: String
        public let modelFiles: [String: String]
        public let task: String
        public let split: String
        public let dataSHA256: String
        public let examples: Int
        public let limit: Int?
        public let seed: UInt64?
        public let step: Double
        public let until: Double?
        public let orders: [PruningOrder]
        public let randomSeeds: Int
        /// SHA-256 of the ablation file the ablation order reads; nil when the run sweeps itself.
        public let ablationSHA256: String?

        enum CodingKeys: String, CodingKey {
            case format, version, model, modelFiles = "model_files", task, split, dataSHA256 = "data_sha256", examples, limit
            case seed, step, until, orders, randomSeeds = "random_seeds", ablationSHA256 = "ablation_sha256"
        }

        /// What differs from `other`, for the refusal of a resume with other inputs.
        func differences(from other: Header) -> [String] {
            let mine = (try? JSONOutput.line(self)) ?? "", theirs = (try? JSONOutput.line(other)) ?? ""
            guard mine != theirs else { return [] }
            var result: [String] = []
            if model != other.model || modelFiles != other.modelFiles { result.append("the model") }
            if task != other.task || split != other.split || dataSHA256 != other.dataSHA256 || examples != other.examples
                || limit != other.limit || seed != other.seed { result.append("the data") }
            if step != other.step || until != other.until || orders != other.orders || randomSeeds != other.randomSeeds {
                result.append("the options (`step`, `until`, `orders`, `randomSeeds`)")
            }
            if ablationSHA256 != other.ablationSHA256 { result.append("the ablation file") }
            return result.isEmpty ? ["the journal's format"] : result
        }
    }

    public var url: URL { file.url }
    private let file: JournalFile

    private init(_ file: JournalFile) { self.file = file }

    /// Starts a journal (its header written atomically).
    public static func create(at url: URL, header: Header) throws -> PruningJournal {
        PruningJournal(try JournalFile.create(at: url, firstLine: try JSONOutput.line(header)))
    }

    /// Opens a journal to continue it: checks its header against `header`, drops a torn last line, returns the points.
    /// - Throws: `.badInput` for a corrupt journal; `.usage` when it was written for other inputs.
    public static func resume(at url: URL, header: Header) throws -> (PruningJournal, [PruningPoint]) {
        let (bytes, lines) = try JournalFile.lines(of: url)
        let decoder = JSONDecoder()
        guard let first = lines.first, first.complete,
              let recorded = try? decoder.decode(Header.self, from: Data(bytes[first.range])), recorded.format == format else {
            throw BertologyError.badInput(url.path, at: "line 1", "not a pruning journal (no whole header line)")
        }
        guard recorded.version == version else {
            throw BertologyError.badInput(url.path, at: "line 1", "journal version \(recorded.version); this Bertology reads version \(version)")
        }
        let differences = recorded.differences(from: header)
        guard differences.isEmpty else {
            throw BertologyError.usage("\(url.path) was written for other inputs (\(differences.joined(separator: ", ")) differ): rerun with the same inputs, or start again with `force`")
        }
        var points: [PruningPoint] = []
        var validBytes = first.range.upperBound + 1
        for (number, line) in lines.enumerated().dropFirst() {
            guard line.complete, let point = try? decoder.decode(PruningPoint.self, from: Data(bytes[line.range])),
                  point.removed.allSatisfy({ (try? HeadID(parsingName: $0)) != nil }) else {
                if number == lines.count - 1 { break }  // torn by an interruption
                throw BertologyError.badInput(url.path, at: "line \(number + 1)", "not a pruning point (the journal is corrupt)")
            }
            points.append(point)
            validBytes = line.range.upperBound + 1
        }
        if validBytes < bytes.count { try JournalFile.truncate(url, to: validBytes) }
        return (PruningJournal(try JournalFile.open(url)), points)
    }

    /// Appends one point: one write of the whole line, then fsync.
    public func append(_ point: PruningPoint) throws {
        try file.append(try JSONOutput.line(point))
    }
}

extension PruningRun {
    /// The journal header of this run (`ablationFile`: the ablation order's source, when given).
    public func journalHeader(ablationFile: URL?) throws -> PruningJournal.Header {
        PruningJournal.Header(model: checkpoint.name, modelFiles: try AblationFingerprint.modelFiles(checkpoint),
                              task: dataset.task.rawValue, split: dataset.split.rawValue,
                              dataSHA256: try SHA256.hex(file: dataset.file), examples: dataset.count,
                              limit: dataset.sampling?.limit, seed: dataset.sampling?.seed, step: options.step,
                              until: options.until, orders: options.orders, randomSeeds: options.randomSeeds,
                              ablationSHA256: try ablationFile.map { try SHA256.hex(file: $0) })
    }

    /// Runs in `folder` with its journal: a new journal, or (`resume`) the one there, continued.
    public func run(in folder: OutputFolder, resume: Bool, ablationFile: URL?,
                    ablation: ImportanceAgainstAblation.AblationDrops?, progress: ProgressHandler? = nil) throws -> PruningResult {
        let url = folder.file(PruningJournal.fileName)
        let header = try journalHeader(ablationFile: ablationFile)
        let journal: PruningJournal, done: [PruningPoint]
        if resume && FileManager.default.fileExists(atPath: url.path) {
            (journal, done) = try PruningJournal.resume(at: url, header: header)
        } else {
            journal = try PruningJournal.create(at: url, header: header)
            done = []
        }
        return try run(ablation: ablation, done: done, record: journal.append, progress: progress)
    }
}
