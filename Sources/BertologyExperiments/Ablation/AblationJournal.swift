import BertologyEngine
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The journal of an ablation sweep: `ablation-journal.jsonl` in the output folder, JSON Lines.
///
/// Line 1, the header: `{"ablations": [...], "format": "bertology-ablation-journal", "fingerprint":
/// {...}, "shard": "1/1", "version": 1}` (the ablations this part runs, in plan order). Then one line
/// per finished ablation: `{"ablation": "L4-H1", "metrics": {...}, "predictions": [...], "seconds": 1.2}`
/// (predictions per example in file order: a score, or the class index). Each line is appended
/// with one `write` and flushed with `fsync` before the next ablation is reported done, so a crash
/// or kill leaves at most a torn last line: reading drops it (and `resume` truncates it away).
///
/// An ablation recorded twice (two processes that once wrote into one folder, before output folders
/// were locked, or a journal copied together by hand) is read once when both records hold the same
/// results (the engine is deterministic: same metrics and predictions; their wall times may differ).
/// Records with different results are an error naming both lines; `resume(at:keepFirst:)` with
/// `keepFirst` keeps the first and drops the later ones.
public final class AblationJournal {
    public static let fileName = "ablation-journal.jsonl"
    public static let format = "bertology-ablation-journal"
    public static let version = 1

    public struct Header: Codable, Equatable, Sendable {
        public let format: String
        public let version: Int
        public let fingerprint: AblationFingerprint
        public let shard: AblationShard
        /// The ablations of this part, in plan order.
        public let ablations: [String]
    }

    public struct Record: Codable, Equatable, Sendable {
        public let ablation: String
        public let metrics: [String: Double]
        /// Per example, in file order: the score (STS-B) or the predicted class index.
        public let predictions: [Double]
        /// Wall time of the ablation's group divided by the group's ablations.
        public let seconds: Double
    }

    /// A journal as read from disk.
    public struct Contents: Sendable {
        public let url: URL
        public let header: Header
        public let records: [Record]
        /// Bytes of the valid lines (header and records, newlines included).
        public let validBytes: Int
        /// Bytes after them: a torn last line (0 when the file ends cleanly).
        public let tornBytes: Int
        /// Line numbers (1-based) of records left out because an earlier line records the same
        /// ablation: identical repeats always, different ones only when reading with `keepFirst`.
        public let repeatedLines: [Int]
    }

    public var url: URL { file.url }
    private let file: JournalFile

    private init(_ file: JournalFile) { self.file = file }

    /// Starts a journal with `header` (written atomically: a journal always has a whole header).
    public static func create(at url: URL, header: Header) throws -> AblationJournal {
        AblationJournal(try JournalFile.create(at: url, firstLine: try JSONOutput.line(header)))
    }

    /// Opens an existing journal to continue it: drops a torn last line (truncating the file to the
    /// last whole line) and returns what it holds.
    ///
    /// With `keepFirst`, records that repeat an ablation with other results than its first record
    /// are dropped: the journal is rewritten (atomically) with the header and the first record of
    /// each ablation, so it reads cleanly afterwards.
    public static func resume(at url: URL, keepFirst: Bool = false) throws -> (AblationJournal, Contents) {
        var contents = try read(url, keepFirst: keepFirst)
        if keepFirst && !contents.repeatedLines.isEmpty {
            let lines = try [JSONOutput.line(contents.header)] + contents.records.map { try JSONOutput.line($0) }
            let text = lines.joined(separator: "\n") + "\n"
            try AtomicFile.write(text, to: url)
            contents = Contents(url: url, header: contents.header, records: contents.records,
                                validBytes: text.utf8.count, tornBytes: 0, repeatedLines: contents.repeatedLines)
        } else if contents.tornBytes > 0 {
            try JournalFile.truncate(url, to: contents.validBytes)
        }
        return (AblationJournal(try JournalFile.open(url)), contents)
    }

    /// Appends one record: one write of the whole line, then fsync.
    public func append(_ record: Record) throws {
        try file.append(try JSONOutput.line(record))
    }

    /// Reads a journal. A last line that is not whole (no newline, or not valid JSON) is torn and
    /// left out; any other bad line is an error naming it.
    /// A record that repeats an ablation with the same results is left out (its line number is in
    /// `repeatedLines`); one with other results is an error naming both lines, unless `keepFirst`.
    public static func read(_ url: URL, keepFirst: Bool = false) throws -> Contents {
        let (bytes, lines) = try JournalFile.lines(of: url)
        guard let first = lines.first, first.complete else {
            throw BertologyError.badInput(url.path, at: "line 1", "not an ablation journal (no whole header line)")
        }
        let decoder = JSONDecoder()
        let header: Header
        do { header = try decoder.decode(Header.self, from: Data(bytes[first.range])) } catch {
            throw BertologyError.badInput(url.path, at: "line 1", "not an ablation journal header: \(error)")
        }
        guard header.format == format else {
            throw BertologyError.badInput(url.path, at: "line 1", "format \"\(header.format)\", expected \"\(format)\"")
        }
        guard header.version == version else {
            throw BertologyError.badInput(url.path, at: "line 1", "journal version \(header.version); this Bertology reads version \(version)")
        }
        var records: [Record] = []
        var recordLines: [String: Int] = [:]  // ablation -> line of its first record
        var repeatedLines: [Int] = []
        var validBytes = first.range.upperBound + 1
        for (number, line) in lines.enumerated().dropFirst() {
            let isLast = number == lines.count - 1
            guard line.complete, let record = try? decoder.decode(Record.self, from: Data(bytes[line.range])) else {
                if isLast { break }  // torn by an interruption
                throw BertologyError.badInput(url.path, at: "line \(number + 1)", "not a journal record (the journal is corrupt)")
            }
            guard header.ablations.contains(record.ablation) else {
                throw BertologyError.badInput(url.path, at: "line \(number + 1)", "ablation \(record.ablation) is not in this journal's plan")
            }
            guard record.predictions.count == header.fingerprint.data.examples else {
                throw BertologyError.badInput(url.path, at: "line \(number + 1)", "\(record.predictions.count) predictions, expected \(header.fingerprint.data.examples)")
            }
            validBytes = line.range.upperBound + 1
            if let firstLine = recordLines[record.ablation] {
                let earlier = records.first { $0.ablation == record.ablation }!
                let same = earlier.metrics == record.metrics && earlier.predictions == record.predictions
                guard same || keepFirst else {
                    throw BertologyError.badInput(url.path, at: "lines \(firstLine) and \(number + 1)",
                        "ablation \(record.ablation) is recorded twice with different results; resume with `keepFirst` to keep line \(firstLine), drop the later copies and finish the sweep without running the other recorded ablations again")
                }
                repeatedLines.append(number + 1)
                continue
            }
            recordLines[record.ablation] = number + 1
            records.append(record)
        }
        return Contents(url: url, header: header, records: records, validBytes: validBytes, tornBytes: bytes.count - validBytes,
                        repeatedLines: repeatedLines)
    }
}
