import Bertology
@_spi(Fuzzing) import BertologyEngine
import Foundation
import FuzzSupport

// vocab.txt: any bytes give a vocabulary or a one-line error; a vocabulary that loads tokenizes
// text into ids that are all its own.
let texts = ["[CLS] Hello, world! [SEP] unaffable", "a ## b ### [UNK]", "Café été 中文 😀 \u{301}", ""]

runFuzzTarget { input in
    let vocabulary = try FuzzEntryPoints.vocabulary(input)
    let tokenizer = BertTokenizer(vocabulary: vocabulary)
    for text in texts {
        let encoding = tokenizer.encode(text, pair: text, maxLength: 12)
        checkEncoding(encoding, vocabulary: vocabulary, maxLength: 12, input: input)
    }
    // The last line's token (stripped of its own spaces) is itself: find it again.
    for id in [0, Int32(vocabulary.count - 1)] {
        guard let token = vocabulary.token(for: id), vocabulary.id(for: token) == id else {
            findingFound("token \(id) does not map back to its id", input: input)
        }
    }
}
