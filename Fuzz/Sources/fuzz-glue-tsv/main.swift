import Bertology
import Foundation
import FuzzSupport

// A GLUE .tsv file, as `bertology eval` reads it (GLUEDataset.parse: BOM, CRLF, TAB fields, the
// task's header and labels). The input's first line names the layout ("STS-B dev"); the rest is the
// file. Any bytes give examples that hold together, or a one-line error.
let layouts = GLUETask.allCases.flatMap { task in task.splits.map { (task, $0) } }

runFuzzTarget { input in
    let newline = input.firstIndex(of: 0x0A) ?? input.endIndex
    let words = String(decoding: input[..<newline], as: UTF8.self).split(separator: " ").map(String.init)
    let (task, split): (GLUETask, GLUESplit)
    if words.count == 2, let named = try? GLUETask(parsing: words[0]), let namedSplit = try? GLUESplit(parsing: words[1]),
       named.splits.contains(namedSplit) {
        (task, split) = (named, namedSplit)
    } else {
        (task, split) = layouts[Int(input.first ?? 0) % layouts.count]
    }
    let file = Data(input[(newline < input.endIndex ? newline + 1 : newline)...])
    let examples = try GLUEDataset.parse(file, task: task, split: split, file: "\(task.folderName)/\(task.fileName(for: split))")
    guard !examples.isEmpty else { findingFound("no examples and no error", input: input) }
    for (position, example) in examples.enumerated() {
        guard example.index == position, example.line >= 1, position == 0 || example.line > examples[position - 1].line else {
            findingFound("example \(position): index \(example.index), line \(example.line) out of order", input: input)
        }
        guard (example.textB != nil) == task.isPair else {
            findingFound("example \(position): a pair task without a second text, or the reverse", input: input)
        }
        switch example.label {
        case .none:
            guard !split.hasLabels else { findingFound("example \(position) of a labelled split has no label", input: input) }
        case .classIndex(let index)?:
            guard let labels = task.labels, labels.indices.contains(index) else {
                findingFound("example \(position): class \(index) outside the task's labels", input: input)
            }
        case .score(let score)?:
            guard task.isRegression, score.isFinite else { findingFound("example \(position): score \(score)", input: input) }
        }
    }
}
