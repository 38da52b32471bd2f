import Bertology
@_spi(Fuzzing) import BertologyEngine
import Foundation

/// What every reader of untrusted input promises (docs/DESIGN.md and docs/RELIABILITY.md: "never a crash"): it returns a value
/// or throws a `BertologyError` of kind bad input or I/O, whose message is one line naming what is
/// wrong (exit status 1 in the CLI). Anything else is a finding: the target stops the process,
/// and libFuzzer saves the input.
public func expectCleanFailure(_ error: any Error, input: Data) {
    guard let error = error as? BertologyError else {
        findingFound("not a BertologyError: \(error)", input: input)
    }
    guard error.kind == .badInput || error.kind == .io, error.exitStatus == 1 else {
        findingFound("error of kind \(error.kind) (exit \(error.exitStatus)), expected bad input: \(error)", input: input)
    }
    let line = error.description
    guard !line.isEmpty, !line.contains(where: \.isNewline) else {
        findingFound("the message is not one line: \(line.debugDescription)", input: input)
    }
    // BertologyError shortens a location to 300 characters and a reason to 600 (plus the note of
    // how much was left out); the fuzz targets name files in a few characters.
    guard line.unicodeScalars.count <= 1_000 else {
        findingFound("the message is \(line.unicodeScalars.count) characters long", input: input)
    }
}

/// Stops the process with a message; libFuzzer reports it as a crash and saves the input.
public func findingFound(_ message: String, input: Data) -> Never {
    FileHandle.standardError.write(Data("FUZZ FINDING: \(message) (input of \(input.count) bytes)\n".utf8))
    abort()
}

// MARK: - Driver

/// libFuzzer's entry point for a program that has its own `main` (llvm.org/docs/LibFuzzer.html,
/// "Using libFuzzer as a library"). SwiftPM gives every executable target its own renamed main, so
/// the target's main.swift calls this instead of defining LLVMFuzzerTestOneInput.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

nonisolated(unsafe) private var currentBody: ((Data) throws -> Void)?

/// Runs libFuzzer with the command-line arguments, calling `body` on every input. Any error
/// `body` throws must be a one-line bad-input `BertologyError` (`expectCleanFailure`).
public func runFuzzTarget(_ body: @escaping (Data) throws -> Void) -> Never {
    currentBody = body
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    let status = LLVMFuzzerRunDriver(&argc, &argv) { pointer, count in
        let input = pointer.map { Data(bytes: $0, count: count) } ?? Data()
        do {
            try currentBody!(input)
        } catch {
            expectCleanFailure(error, input: input)
        }
        return 0
    }
    exit(status)
}

// MARK: - Oracles

/// An encoding is `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]` of the vocabulary's ids, with parallel
/// arrays of one length, and within `maxLength` when that leaves room for the specials.
public func checkEncoding(_ encoding: Encoding, vocabulary: Vocabulary, maxLength: Int?, input: Data) {
    let count = encoding.inputIds.count
    guard encoding.tokens.count == count, encoding.tokenTypeIds.count == count,
          encoding.attentionMask.count == count, encoding.wordIds.count == count,
          encoding.sequenceIds.count == count else {
        findingFound("encoding arrays of different lengths", input: input)
    }
    guard count >= 2 else { findingFound("encoding shorter than [CLS] [SEP]", input: input) }
    for (index, id) in encoding.inputIds.enumerated() {
        guard let token = vocabulary.token(for: id), token == encoding.tokens[index] else {
            findingFound("id \(id) at \(index) is not the vocabulary's token \(encoding.tokens[index])", input: input)
        }
    }
    guard encoding.tokens.first == "[CLS]", encoding.tokens.last == "[SEP]",
          encoding.tokenTypeIds.allSatisfy({ $0 == 0 || $0 == 1 }) else {
        findingFound("template broken: \(encoding.tokens)", input: input)
    }
    let isPair = encoding.tokenTypeIds.contains(1)
    if let maxLength, maxLength >= (isPair ? 3 : 2), count > maxLength {
        findingFound("\(count) tokens exceed max length \(maxLength)", input: input)
    }
}
