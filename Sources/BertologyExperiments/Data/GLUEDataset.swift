import BertologyEngine
import Foundation

/// The gold label of an example: a class (an index into `GLUETask.labels`) or an STS-B score.
public enum GLUELabel: Sendable, Equatable, Hashable, Codable {
    /// A class: the 0-based index into the task's ``GLUETask/labels``.
    case classIndex(Int)
    /// A score: STS-B's gold similarity (0-5), a regression output, or a cosine.
    case score(Double)

    /// The class index; nil for a score.
    public var classIndex: Int? { if case .classIndex(let index) = self { index } else { nil } }
    /// The score; nil for a class.
    public var score: Double? { if case .score(let value) = self { value } else { nil } }
}

/// One example of a GLUE file.
public struct GLUEExample: Sendable, Equatable, Codable {
    /// 0-based position among the file's examples (the header is not an example).
    public let index: Int
    /// 1-based line in the file, for messages and predictions.
    public let line: Int
    /// The first (or only) text.
    public let textA: String
    /// The second text of a pair task; nil for CoLA and SST-2.
    public let textB: String?
    /// nil in test files (GLUE's test labels are not public).
    public let label: GLUELabel?

    /// Creates an example, for datasets built in code.
    /// - Parameters:
    ///   - index: 0-based position among the examples.
    ///   - line: 1-based line in the file it came from, for messages and predictions.
    ///   - textA: the first (or only) text.
    ///   - textB: the second text of a pair task; nil for single-sentence tasks.
    ///   - label: the gold label; nil when unknown (test files).
    public init(index: Int, line: Int, textA: String, textB: String?, label: GLUELabel?) {
        self.index = index
        self.line = line
        self.textA = textA
        self.textB = textB
        self.label = label
    }
}

/// How a dataset was sub-sampled (its size and seed: ``GLUEDataset/sampled(limit:seed:)``).
public struct GLUESampling: Sendable, Equatable, Codable {
    /// Examples asked for.
    public let limit: Int
    /// The seed the sample was drawn with; the same limit, seed and file give the same examples.
    public let seed: UInt64
    /// Examples in the file before sampling.
    public let population: Int
}

/// The examples of one split of one GLUE task, read from a `glue_data/` folder.
public struct GLUEDataset: Sendable {
    /// The task the examples belong to (decides the columns, labels and metrics).
    public let task: GLUETask
    /// The split the examples came from.
    public let split: GLUESplit
    /// The file the examples came from.
    public let file: URL
    /// In file order (also after sampling).
    public let examples: [GLUEExample]
    /// Set when the examples are a seeded sample of the file.
    public let sampling: GLUESampling?

    /// Creates a dataset from examples built in code (``load(task:split:folder:)`` reads one from disk).
    /// - Parameters:
    ///   - task: the task the examples belong to.
    ///   - split: their split.
    ///   - file: where they came from, for reports.
    ///   - examples: the examples, in file order.
    ///   - sampling: how they were sampled from the file; nil when they are all of it.
    public init(task: GLUETask, split: GLUESplit, file: URL, examples: [GLUEExample], sampling: GLUESampling? = nil) {
        self.task = task
        self.split = split
        self.file = file
        self.examples = examples
        self.sampling = sampling
    }

    /// Number of examples.
    public var count: Int { examples.count }

    // MARK: - Loading

    /// Reads `folder/<Task>/<file>` (the `glue_data/` layout: `folder/MNLI/dev_matched.tsv`). When
    /// `folder` is the task's own folder (it holds the file itself), that works too.
    /// Errors name the file, the line and what is wrong; a missing file names the path expected.
    public static func load(task: GLUETask, split: GLUESplit, folder: URL) throws -> GLUEDataset {
        guard task.splits.contains(split) else {
            throw BertologyError.usage("\(task) has no \(split) split (its splits: \(task.splits.map(\.rawValue).joined(separator: ", ")))")
        }
        let url = try locate(task: task, split: split, folder: folder)
        // InputFile: the same plain-words errors as the other readers (a folder, a missing file).
        let data = try InputFile.read(url)
        return GLUEDataset(task: task, split: split, file: url,
                           examples: try parse(data, task: task, split: split, file: url.path))
    }

    /// The file a split is read from: `folder/<Task>/<file>`, or `folder/<file>` when `folder` is
    /// the task folder itself.
    public static func locate(task: GLUETask, split: GLUESplit, folder: URL) throws -> URL {
        let name = task.fileName(for: split)
        let standard = folder.appendingPathComponent(task.folderName).appendingPathComponent(name)
        let manager = FileManager.default
        if manager.fileExists(atPath: standard.path) { return standard }
        let direct = folder.appendingPathComponent(name)
        if folder.standardizedFileURL.lastPathComponent == task.folderName, manager.fileExists(atPath: direct.path) {
            return direct
        }
        guard manager.fileExists(atPath: folder.path) else {
            throw BertologyError.io(folder.path, "no such GLUE data folder (expected the glue_data layout, with \(task.folderName)/\(name) inside)")
        }
        throw BertologyError.io(standard.path, "missing: \(task) \(split) is read from \(task.folderName)/\(name) in the glue_data folder")
    }

    /// Parses the bytes of a GLUE file: a leading BOM is dropped, LF or CRLF end lines, fields are
    /// split on TAB with no quoting (quotes are text), trailing empty lines are ignored.
    public static func parse(_ data: Data, task: GLUETask, split: GLUESplit, file: String) throws -> [GLUEExample] {
        let lines = try TextLines.split(data, file: file)
        var end = lines.count
        while end > 0 && lines[end - 1].isEmpty { end -= 1 }
        let layout = task.layout(for: split)
        guard end > 0 else {
            throw BertologyError.badInput(file, at: "line 1", layout.header == nil
                ? "empty file (expected \(task) \(split) examples)"
                : "empty file (expected the header \(layout.header!.joined(separator: "<TAB>")))")
        }

        // Column positions, from the header when there is one.
        var firstDataLine = 0
        var fieldCount: Int
        func position(_ column: GLUEFileLayout.Column?) throws -> Int? {
            guard let column else { return nil }
            switch column {
            case .position(let index): return index
            case .named(let name):
                let header = fields(lines[0])
                guard let index = header.firstIndex(of: Substring(name)) else {
                    throw BertologyError.badInput(file, at: "line 1",
                        "the header has no column \"\(name)\" (\(task) \(split) files have the columns "
                        + "\(layout.header!.joined(separator: ", ")); found: \(header.joined(separator: ", ")))")
                }
                return index
            }
        }
        if layout.header != nil {
            firstDataLine = 1
            fieldCount = fields(lines[0]).count
        } else {
            fieldCount = layout.columnCount!
        }
        let textAColumn = try position(layout.textA)!
        let textBColumn = try position(layout.textB)
        let labelColumn = try position(layout.label)

        let labelIndex: [Substring: Int] = Dictionary(
            uniqueKeysWithValues: (task.labels ?? []).enumerated().map { (Substring($0.element), $0.offset) })
        var examples: [GLUEExample] = []
        examples.reserveCapacity(end - firstDataLine)
        for lineIndex in firstDataLine..<end {
            let number = lineIndex + 1
            let line = lines[lineIndex]
            guard !line.isEmpty else {
                throw BertologyError.badInput(file, at: "line \(number)", "empty line (every line after the header is one example)")
            }
            let row = fields(line)
            guard row.count == fieldCount else {
                throw BertologyError.badInput(file, at: "line \(number)",
                    "\(row.count) field\(row.count == 1 ? "" : "s"), expected \(fieldCount) (\(task) \(split) fields are separated by TAB, with no quoting)")
            }
            var label: GLUELabel?
            if let labelColumn {
                let text = row[labelColumn]
                if text.isEmpty {
                    throw BertologyError.badInput(file, at: "line \(number)", task.isRegression
                        ? "the score is empty (every \(task) \(split) example needs one, a number from 0 to 5)"
                        : "the label is empty (every \(task) \(split) example needs one of \(task.labels!.joined(separator: ", ")))")
                }
                if task.isRegression {
                    guard let value = Double(text), value.isFinite else {
                        throw BertologyError.badInput(file, at: "line \(number)", "score \"\(text)\" is not a number")
                    }
                    label = .score(value)
                } else {
                    guard let index = labelIndex[text] else {
                        let hint = task == .cola && number == 1 ? " (CoLA train and dev files have no header row)" : ""
                        throw BertologyError.badInput(file, at: "line \(number)",
                            "label \"\(text)\" is not one of \(task.labels!.joined(separator: ", "))\(hint)")
                    }
                    label = .classIndex(index)
                }
            }
            examples.append(GLUEExample(index: examples.count, line: number, textA: String(row[textAColumn]),
                                        textB: textBColumn.map { String(row[$0]) }, label: label))
        }
        guard !examples.isEmpty else {
            throw BertologyError.badInput(file, at: "line 2", "no examples after the header")
        }
        return examples
    }

    private static func fields(_ line: String) -> [Substring] {
        line.split(separator: "\t", omittingEmptySubsequences: false)
    }

    // MARK: - Seeded sampling

    /// A deterministic subset of `limit` examples, kept in file order (all of them when the file
    /// has no more than `limit`).
    ///
    /// The algorithm, to reproduce elsewhere: a Fisher-Yates shuffle of the positions 0..<n driven
    /// by `SeededGenerator(seed)` (splitmix64), `for i in n-1 down to 1: j = next() % (i + 1);
    /// swap(order[i], order[j])`; the first `limit` positions of the shuffled order, sorted.
    public func sampled(limit: Int, seed: UInt64) -> GLUEDataset {
        let chosen = Self.sampleIndices(count: examples.count, limit: limit, seed: seed)
        return GLUEDataset(task: task, split: split, file: file, examples: chosen.map { examples[$0] },
                           sampling: GLUESampling(limit: limit, seed: seed, population: examples.count))
    }

    /// The positions `sampled(limit:seed:)` keeps, sorted.
    static func sampleIndices(count: Int, limit: Int, seed: UInt64) -> [Int] {
        guard limit < count else { return Array(0..<count) }
        var order = Array(0..<count)
        var generator = SeededGenerator(seed: seed)
        var i = count - 1
        while i > 0 {
            let j = Int(generator.next() % UInt64(i + 1))
            order.swapAt(i, j)
            i -= 1
        }
        return order.prefix(max(0, limit)).sorted()
    }
}
