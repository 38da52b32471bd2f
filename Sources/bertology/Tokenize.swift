import ArgumentParser
import Bertology
import Foundation

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Split text into the model's tokens and ids, exactly as Hugging Face tokenizers does.",
        discussion: """
        The tokenizer is the folder's tokenizer.json (WordPiece, BPE or Unigram), else its vocab.txt (BERT).
        With --input, one example per line; a TAB separates the two texts of a pair.
        Example: bertology tokenize --json "Hello, world!"
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: ArgumentHelp("Read examples from FILE, one per line (TAB separates a pair).", valueName: "FILE"))
    var input: String?

    @Option(help: "Truncate longest-first to this many tokens, specials included.")
    var maxLength: Int?

    @Flag(help: "One JSON object per example: {\"tokens\", \"input_ids\", \"token_type_ids\"}.")
    var json = false

    @Argument(help: "The text to tokenize (a TAB inside it separates a pair).")
    var text: String?

    func run() throws {
        guard (input == nil) != (text == nil) else {
            throw BertologyError.usage("give either TEXT or --input FILE")
        }
        let tokenizer = try Tokenizer.load(folder: modelOptions.modelURL)
        let lines: [String]
        if let input {
            lines = try TextLines.read(URL(fileURLWithPath: input))
            guard !lines.isEmpty else {
                throw BertologyError.badInput(URL(fileURLWithPath: input).path, "the file is empty (nothing to tokenize)")
            }
        } else {
            lines = [text!]
        }
        for line in lines {
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let encoding = tokenizer.encode(parts[0], pair: parts.count > 1 ? parts[1] : nil, maxLength: maxLength)
            if json {
                emit(try JSONOutput.line(TokenizedExample(encoding)))
            } else {
                emit(encoding.tokens.joined(separator: " "))
                emit(encoding.inputIds.map(String.init).joined(separator: " "))
            }
        }
    }
}

struct TokenizedExample: Encodable {
    let tokens: [String]
    let input_ids: [Int32]
    let token_type_ids: [Int32]

    init(_ encoding: Encoding) {
        tokens = encoding.tokens
        input_ids = encoding.inputIds
        token_type_ids = encoding.tokenTypeIds
    }
}
