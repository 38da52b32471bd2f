import Bertology
@_spi(Fuzzing) import BertologyEngine
import Foundation
import FuzzSupport

// The tokenizer on arbitrary bytes, as `bertology tokenize --input FILE` reads them: the bytes are
// split into lines (TextLines: BOM, CRLF, UTF-8 checked), a TAB splits a pair, and every line is
// encoded under options and a max length taken from the first two bytes. Every encoding must be
// well formed (ids of the vocabulary, the template's specials, truncation within the limit).
//
// The vocabulary is the tokenizer fixture's (accents, CJK, scripts with unusual classes, "##" pieces).
let vocabularyURL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Tests/BertologyTests/Fixtures/tokenizer/tiny-vocab.txt")
let vocabulary = try! Vocabulary(contentsOf: vocabularyURL)

runFuzzTarget { input in
    guard input.count >= 2 else { return }
    let flags = input[input.startIndex], lengthByte = input[input.startIndex + 1]
    let options = TokenizerOptions(doLowerCase: flags & 1 != 0,
                                   stripAccents: flags & 6 == 0 ? nil : flags & 2 != 0,
                                   tokenizeChineseChars: flags & 8 == 0)
    let tokenizer = BertTokenizer(vocabulary: vocabulary, options: options)
    let maxLength: Int? = lengthByte == 0 ? nil : Int(lengthByte) - 64  // -63...191, below-specials included
    let text = input.dropFirst(2)
    // As the CLI reads a file (errors: non-UTF-8 lines), then each line as an example.
    for line in try TextLines.split(Data(text), file: "input.txt") {
        let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let encoding = tokenizer.encode(parts[0], pair: parts.count > 1 ? parts[1] : nil, maxLength: maxLength)
        checkEncoding(encoding, vocabulary: vocabulary, maxLength: maxLength, input: input)
        if encoding != tokenizer.encode(parts[0], pair: parts.count > 1 ? parts[1] : nil, maxLength: maxLength) {
            findingFound("encoding the same text twice differs", input: input)
        }
        let words = line.split(separator: " ").map(String.init)
        checkEncoding(tokenizer.encode(words: words, pairWords: nil, maxLength: maxLength),
                      vocabulary: vocabulary, maxLength: maxLength, input: input)
        _ = tokenizer.tokenize(line)
    }
    // Arbitrary bytes as a Swift String (invalid UTF-8 replaced), as a command-line argument arrives.
    let lossy = String(decoding: text, as: UTF8.self)
    checkEncoding(tokenizer.encode(lossy, maxLength: maxLength), vocabulary: vocabulary, maxLength: maxLength, input: input)
}
