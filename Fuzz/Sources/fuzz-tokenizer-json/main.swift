import Bertology
@_spi(Fuzzing) import BertologyEngine
import Foundation
import FuzzSupport

// tokenizer.json: any bytes give a tokenizer or a one-line error; a tokenizer that loads encodes
// texts (specials, accents, CJK, emoji, controls, pairs) into ids of its vocabulary, with arrays of
// one length and truncation within the limit once the post-processor's specials fit.
let texts = ["[CLS] Hello, world! [SEP] <s> </s> <mask> unaffable", "  Café été 中文 😀👨‍👩‍👧 \u{301}\u{0}\t x",
             "it's ＦＵＬＬ １２３ ▁▁a", ""]

runFuzzTarget { input in
    let tokenizer = try FuzzEntryPoints.tokenizerJSON(input)
    let vocabulary = tokenizer.vocabulary
    for text in texts {
        for maxLength in [nil, 9] as [Int?] {
            let encoding = tokenizer.encode(text, pair: text, maxLength: maxLength)
            let count = encoding.inputIds.count
            guard encoding.tokens.count == count, encoding.tokenTypeIds.count == count,
                  encoding.attentionMask.count == count, encoding.wordIds.count == count,
                  encoding.sequenceIds.count == count else {
                findingFound("encoding arrays of different lengths", input: input)
            }
            for id in encoding.inputIds where vocabulary.token(for: id) == nil {
                findingFound("id \(id) is outside the vocabulary (\(vocabulary.count))", input: input)
            }
            let specials = encoding.sequenceIds.filter { $0 == nil }.count
            if let maxLength, maxLength >= specials, count > maxLength {
                findingFound("\(count) tokens exceed max length \(maxLength)", input: input)
            }
        }
        _ = tokenizer.encode(words: text.split(separator: " ").map(String.init), maxLength: 7)
    }
}
