// Tokenizer speed on QNLI dev, to compare with tools/reference/tokenizer_speed.py (the Rust
// reference, single-threaded). Single-threaded here too.
//
//   swift run --package-path Benchmarks -c release tokenizer-bench [--model DIR] [--glue DIR] [--runs N]
import Bertology
import Foundation

var modelFolder = URL(fileURLWithPath: "models/all-MiniLM-L6-v2")
var glueFolder = URL(fileURLWithPath: "../shared/data/glue")
var runs = 7
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard let value = arguments.popFirst() else {
        FileHandle.standardError.write(Data("tokenizer-bench: \(flag) needs a value\n".utf8))
        exit(2)
    }
    switch flag {
    case "--model": modelFolder = URL(fileURLWithPath: value)
    case "--glue": glueFolder = URL(fileURLWithPath: value)
    case "--runs": runs = max(1, Int(value) ?? runs)
    default:
        FileHandle.standardError.write(Data("usage: tokenizer-bench [--model DIR] [--glue DIR] [--runs N]\n".utf8))
        exit(2)
    }
}

do {
    let tokenizer = try Tokenizer.load(folder: modelFolder)
    let qnli = glueFolder.appendingPathComponent("QNLI/dev.tsv")
    let text = try String(contentsOf: qnli, encoding: .utf8)
    let rows = text.split(separator: "\n").dropFirst().map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
    let questions = rows.map { String($0[1]) }
    let sentences = rows.map { String($0[2]) }

    func best(_ label: String, _ work: () -> Int) {
        var times: [Double] = []
        var pieces = 0
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            pieces = work()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let time = times.min()!
        let label = label.padding(toLength: 44, withPad: " ", startingAt: 0)
        print("\(label) \(String(format: "%8.1f", time * 1000)) ms  \(String(format: "%9.0f", Double(rows.count) / time)) pairs/s  (\(pieces) pieces)")
    }

    best("swift encode(q, pair: s, maxLength: 128)") {
        var pieces = 0
        for (question, sentence) in zip(questions, sentences) {
            pieces += tokenizer.encode(question, pair: sentence, maxLength: 128).count
        }
        return pieces
    }
    best("swift encode, 2 x \(rows.count) sentences") {
        var pieces = 0
        for sentence in questions + sentences { pieces += tokenizer.encode(sentence).count }
        return pieces
    }
    print("\(rows.count) pairs, \(qnli.path)")
} catch {
    FileHandle.standardError.write(Data("tokenizer-bench: \(error)\n".utf8))
    exit(1)
}
