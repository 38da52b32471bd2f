import Foundation

/// Reads a Hugging Face `tokenizer.json` into a `Tokenizer`. Every error names the file and the
/// JSON path of the offending value (`model.merges[12]`, `normalizer.normalizers[3].pattern`).
/// Components outside docs/TOKENIZERS.md's list are refused by name rather than run differently.
struct TokenizerJSON {
    let file: String

    static func load(_ url: URL, folder: URL) throws -> Tokenizer {
        try TokenizerJSON(file: url.path).parse(InputFile.read(url))
    }

    /// Parses the bytes of a `tokenizer.json`; errors name `file`.
    static func parse(_ data: Data, file: String) throws -> Tokenizer {
        try TokenizerJSON(file: file).parse(data)
    }

    private func fail(_ path: String, _ reason: String) -> BertologyError {
        BertologyError.badInput(file, at: path.isEmpty ? nil : path, reason)
    }

    private func object(_ value: JSONValue?, _ path: String) throws -> [String: JSONValue] {
        guard let object = value?.object else { throw fail(path, value == nil ? "missing" : "expected an object") }
        return object
    }

    private func array(_ value: JSONValue?, _ path: String) throws -> [JSONValue] {
        guard let array = value?.array else { throw fail(path, value == nil ? "missing" : "expected a list") }
        return array
    }

    private func string(_ value: JSONValue?, _ path: String) throws -> String {
        guard let string = value?.string else { throw fail(path, value == nil ? "missing" : "expected a string") }
        return string
    }

    private func bool(_ value: JSONValue?, _ path: String, default fallback: Bool) throws -> Bool {
        guard let value, value != .null else { return fallback }
        guard let flag = value.bool else { throw fail(path, "expected true or false") }
        return flag
    }

    private func integer(_ value: JSONValue?, _ path: String, range: ClosedRange<Int>) throws -> Int {
        guard let value else { throw fail(path, "missing") }
        guard let number = value.integer, range.contains(number) else {
            throw fail(path, "expected an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    private func id(_ value: JSONValue?, _ path: String) throws -> Int32 {
        Int32(try integer(value, path, range: 0...Int(Int32.max) - 1))
    }

    private func type(_ fields: [String: JSONValue], _ path: String) throws -> String {
        try string(fields["type"], path.isEmpty ? "type" : path + ".type")
    }

    // MARK: - The document

    private func parse(_ data: Data) throws -> Tokenizer {
        let root = try object(JSONValue.parse(data, file: file), "")

        // The model first: it gives the vocabulary.
        let modelFields = try object(root["model"], "model")
        let modelTokens: [String]
        let modelType = modelFields["type"]?.string ?? Self.guessModelType(modelFields)
        switch modelType {
        case "WordPiece", "BPE":
            modelTokens = try vocabularyObject(modelFields["vocab"], "model.vocab")
        case "Unigram":
            modelTokens = try array(modelFields["vocab"], "model.vocab").enumerated().map { item -> String in
                let (index, entry) = (item.offset, item.element)
                guard let pair = entry.array, pair.count == 2, let token = pair[0].string, pair[1].double != nil else {
                    throw fail("model.vocab[\(index)]", "expected [token, score]")
                }
                return token
            }
        default:
            throw fail("model.type", "model \"\(modelType)\" is not supported (WordPiece, BPE, Unigram)")
        }

        // Added tokens: they may extend the vocabulary past the model's ids.
        var added: [AddedToken] = []
        let addedEntries: [JSONValue] = try root["added_tokens"].map { try array($0, "added_tokens") } ?? []
        for (index, entry) in addedEntries.enumerated() {
            let path = "added_tokens[\(index)]"
            let fields = try object(entry, path)
            let content = try string(fields["content"], path + ".content")
            if content.isEmpty { throw fail(path + ".content", "empty token") }
            added.append(AddedToken(
                id: try id(fields["id"], path + ".id"), content: content,
                singleWord: try bool(fields["single_word"], path + ".single_word", default: false),
                lstrip: try bool(fields["lstrip"], path + ".lstrip", default: false),
                rstrip: try bool(fields["rstrip"], path + ".rstrip", default: false),
                normalized: try bool(fields["normalized"], path + ".normalized", default: true),
                special: try bool(fields["special"], path + ".special", default: false)))
        }
        var tokens = modelTokens
        for (index, token) in added.enumerated() {
            let id = Int(token.id)
            if id < tokens.count {
                guard tokens[id].utf8.elementsEqual(token.content.utf8) else {
                    throw fail("added_tokens[\(index)].id", "id \(id) is \"\(tokens[id])\" in the model's vocabulary, not \"\(token.content)\"")
                }
            } else if id == tokens.count {
                tokens.append(token.content)
            } else {
                throw fail("added_tokens[\(index)].id", "id \(id) leaves ids \(tokens.count)..<\(id) without a token")
            }
        }
        let vocabulary = try Vocabulary(anyTokens: tokens, file: file) { index in
            index < modelTokens.count ? "model.vocab (id \(index))" : "added_tokens (id \(index))"
        }

        let model = try self.model(modelType, modelFields, vocabulary: vocabulary, modelCount: modelTokens.count)
        let normalizer = try root["normalizer"].flatMap { $0 == .null ? nil : try self.normalizer($0, "normalizer") }
        let preTokenizer = try root["pre_tokenizer"].flatMap {
            $0 == .null ? nil : try self.preTokenizer($0, "pre_tokenizer")
        }
        let postProcessor = try root["post_processor"].map {
            $0 == .null ? PostProcessor.none : try self.postProcessor($0, "post_processor", vocabulary: vocabulary)
        } ?? PostProcessor.none

        // [CLS]/[SEP]: from the post-processor, else added tokens of those names.
        func addedId(_ names: [String]) -> Int32? {
            for name in names { if let token = added.first(where: { $0.content == name }) { return token.id } }
            return nil
        }
        guard let (cls, sep) = postProcessor.clsAndSep
            ?? addedId(["[CLS]", "<s>"]).flatMap({ cls in addedId(["[SEP]", "</s>"]).map { (cls, $0) } }) else {
            throw fail("post_processor", "no special tokens to start and end a sequence (expected a post-processor, or added tokens [CLS]/[SEP] or <s>/</s>)")
        }
        var padId = addedId(["[PAD]", "<pad>"])
        if let padding = root["padding"]?.object, let value = padding["pad_id"] {
            padId = try id(value, "padding.pad_id")
        }

        var options = TokenizerOptions()
        if case .bert(_, let chinese, let strip, let lower)? = normalizer {
            options = TokenizerOptions(doLowerCase: lower, stripAccents: strip, tokenizeChineseChars: chinese)
        }
        let pipeline = Pipeline(normalizer: normalizer, preTokenizer: preTokenizer, model: model,
                                postProcessor: postProcessor, addedTokens: added, vocabulary: vocabulary)
        return Tokenizer(vocabulary: vocabulary, options: options, pipeline: pipeline, cls: cls, sep: sep,
                         padId: padId, sourceFile: file)
    }

    /// Old files may leave out the model's type.
    private static func guessModelType(_ fields: [String: JSONValue]) -> String {
        if fields["merges"] != nil { return "BPE" }
        if fields["vocab"]?.array != nil { return "Unigram" }
        return "WordPiece"
    }

    /// `{token: id}` as the list of tokens by id; ids must be 0..<count, each once.
    private func vocabularyObject(_ value: JSONValue?, _ path: String) throws -> [String] {
        let entries = try object(value, path)
        var tokens = [String?](repeating: nil, count: entries.count)
        for (token, idValue) in entries.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            let id = try integer(idValue, "\(path).\(token)", range: 0...max(0, entries.count - 1))
            if let other = tokens[id] {
                throw fail("\(path).\(token)", "id \(id) is also the id of \"\(other)\"")
            }
            tokens[id] = token
        }
        return tokens.map { $0! }
    }

    // MARK: - Model

    private func model(_ type: String, _ fields: [String: JSONValue], vocabulary: Vocabulary,
                       modelCount: Int) throws -> SubwordModel {
        // The model knows only its own tokens (added tokens past them are matched before it runs).
        let modelTable = modelCount == vocabulary.count ? vocabulary.table
            : try Vocabulary(anyTokens: Array(vocabulary.tokens[0..<modelCount]), file: file) { "model.vocab (id \($0))" }.table
        func tokenId(_ key: String) throws -> Int32? {
            guard let value = fields[key], value != .null else { return nil }
            let token = try string(value, "model.\(key)")
            guard let id = vocabulary.id(for: token) else { throw fail("model.\(key)", "\"\(token)\" is not in the vocabulary") }
            return id
        }
        switch type {
        case "WordPiece":
            let prefix = try fields["continuing_subword_prefix"].map { try string($0, "model.continuing_subword_prefix") } ?? "##"
            guard prefix == "##" else {
                throw fail("model.continuing_subword_prefix", "only \"##\" is supported (got \"\(prefix)\")")
            }
            guard let unknown = try tokenId("unk_token") else { throw fail("model.unk_token", "missing") }
            var wordPiece = WordPiece(table: modelTable, unknownId: unknown)
            if let limit = fields["max_input_chars_per_word"] {
                wordPiece.maxInputCharsPerWord = try integer(limit, "model.max_input_chars_per_word", range: 0...1_000_000)
            }
            return .wordPiece(wordPiece)
        case "BPE":
            if let dropout = fields["dropout"], dropout != .null, dropout.double != 0 {
                throw fail("model.dropout", "BPE dropout is random; only null or 0 is supported")
            }
            var merges: [UInt64: (rank: Int32, id: Int32)] = [:]
            let prefix = try fields["continuing_subword_prefix"].flatMap {
                $0 == .null ? nil : try string($0, "model.continuing_subword_prefix")
            } ?? ""
            for (rank, entry) in try array(fields["merges"], "model.merges").enumerated() {
                let path = "model.merges[\(rank)]"
                let parts: [String]
                if let text = entry.string {
                    parts = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                } else if let list = entry.array, list.allSatisfy({ $0.string != nil }) {
                    parts = list.map { $0.string! }
                } else {
                    throw fail(path, "expected \"left right\" or [left, right]")
                }
                guard parts.count == 2 else { throw fail(path, "expected two tokens") }
                guard let left = vocabulary.id(for: parts[0]) else { throw fail(path, "\"\(parts[0])\" is not in the vocabulary") }
                guard let right = vocabulary.id(for: parts[1]) else { throw fail(path, "\"\(parts[1])\" is not in the vocabulary") }
                let rightText = !prefix.isEmpty && parts[1].hasPrefix(prefix) ? String(parts[1].utf8.dropFirst(prefix.utf8.count))! : parts[1]
                let merged = parts[0] + rightText
                guard let id = vocabulary.id(for: merged) else { throw fail(path, "the merge \"\(merged)\" is not in the vocabulary") }
                let key = BytePairModel.key(left, right)
                if merges[key] == nil { merges[key] = (Int32(rank), id) }
            }
            let suffix = try fields["end_of_word_suffix"].flatMap { $0 == .null ? nil : try string($0, "model.end_of_word_suffix") } ?? ""
            return .bpe(BytePairModel(
                table: modelTable, merges: merges, unknownId: try tokenId("unk_token"),
                continuingSubwordPrefix: Array(prefix.unicodeScalars), endOfWordSuffix: Array(suffix.unicodeScalars),
                fuseUnknown: try bool(fields["fuse_unk"], "model.fuse_unk", default: false),
                byteFallback: try bool(fields["byte_fallback"], "model.byte_fallback", default: false),
                ignoreMerges: try bool(fields["ignore_merges"], "model.ignore_merges", default: false)))
        default:  // Unigram
            let entries = try array(fields["vocab"], "model.vocab")
            var scores = entries.map { $0.array![1].double! }
            scores.append(contentsOf: [Double](repeating: 0, count: vocabulary.count - scores.count))
            var unknown: Int32?
            if let value = fields["unk_id"], value != .null {
                unknown = Int32(try integer(value, "model.unk_id", range: 0...max(0, modelCount - 1)))
            }
            return .unigram(UnigramModel(table: modelTable, scores: Array(scores[0..<modelCount]), unknownId: unknown,
                                         byteFallback: try bool(fields["byte_fallback"], "model.byte_fallback", default: false)))
        }
    }

    // MARK: - Normalizers

    private func normalizer(_ value: JSONValue, _ path: String) throws -> Normalizer {
        let fields = try object(value, path)
        let kind = try type(fields, path)
        switch kind {
        case "BertNormalizer":
            let strip: Bool?
            if let value = fields["strip_accents"], value != .null {
                strip = try bool(value, path + ".strip_accents", default: false)
            } else {
                strip = nil
            }
            return .bert(cleanText: try bool(fields["clean_text"], path + ".clean_text", default: true),
                         handleChineseChars: try bool(fields["handle_chinese_chars"], path + ".handle_chinese_chars", default: true),
                         stripAccents: strip, lowercase: try bool(fields["lowercase"], path + ".lowercase", default: true))
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "StripAccents": return .stripAccents
        case "Replace":
            return .replace(try pattern(fields["pattern"], path + ".pattern"),
                            content: Array(try string(fields["content"], path + ".content").unicodeScalars))
        case "Prepend":
            return .prepend(Array(try string(fields["prepend"], path + ".prepend").unicodeScalars))
        case "Strip":
            return .strip(left: try bool(fields["strip_left"], path + ".strip_left", default: true),
                          right: try bool(fields["strip_right"], path + ".strip_right", default: true))
        case "Precompiled":
            let encoded = try string(fields["precompiled_charsmap"], path + ".precompiled_charsmap")
            guard let data = Data(base64Encoded: encoded), let charsmap = PrecompiledCharsmap([UInt8](data)) else {
                throw fail(path + ".precompiled_charsmap", "not a SentencePiece charsmap (base64 of a trie and its replacements)")
            }
            return .precompiled(charsmap)
        case "Sequence":
            return .sequence(try array(fields["normalizers"], path + ".normalizers").enumerated().map {
                try normalizer($0.element, "\(path).normalizers[\($0.offset)]")
            })
        default:
            throw fail(path + ".type", "normalizer \"\(kind)\" is not supported")
        }
    }

    private func pattern(_ value: JSONValue?, _ path: String) throws -> TextPattern {
        let fields = try object(value, path)
        if let literal = fields["String"] {
            return .literal(Array(try string(literal, path + ".String").unicodeScalars))
        }
        if let regex = fields["Regex"] {
            let source = try string(regex, path + ".Regex")
            do {
                return .regex(try TokenizerRegex(source))
            } catch {
                throw fail(path + ".Regex", "the regex does not compile: \(error)")
            }
        }
        throw fail(path, "expected {\"String\": ...} or {\"Regex\": ...}")
    }

    // MARK: - Pre-tokenizers

    private func behavior(_ value: JSONValue?, _ path: String, default fallback: SplitBehavior) throws -> SplitBehavior {
        guard let value, value != .null else { return fallback }
        let name = try string(value, path)
        guard let behavior = SplitBehavior(rawValue: name) ?? SplitBehavior.allNames[name.lowercased()] else {
            throw fail(path, "unknown behavior \"\(name)\" (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)")
        }
        return behavior
    }

    private func preTokenizer(_ value: JSONValue, _ path: String) throws -> PreTokenizer {
        let fields = try object(value, path)
        let kind = try type(fields, path)
        switch kind {
        case "BertPreTokenizer": return .bert
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: try bool(fields["add_prefix_space"], path + ".add_prefix_space", default: true),
                              useRegex: try bool(fields["use_regex"], path + ".use_regex", default: true))
        case "Metaspace":
            let replacement = try string(fields["replacement"], path + ".replacement")
            guard replacement.unicodeScalars.count == 1 else { throw fail(path + ".replacement", "expected one character") }
            var scheme = PrependScheme.always
            if let value = fields["prepend_scheme"], value != .null {
                let name = try string(value, path + ".prepend_scheme")
                guard let parsed = PrependScheme(rawValue: name) else {
                    throw fail(path + ".prepend_scheme", "expected always, first or never")
                }
                scheme = parsed
            } else if let value = fields["add_prefix_space"] {
                scheme = try bool(value, path + ".add_prefix_space", default: true) ? .always : .never
            }
            return .metaspace(replacement: replacement.unicodeScalars.first!, prependScheme: scheme,
                              split: try bool(fields["split"], path + ".split", default: true))
        case "Whitespace": return .whitespace
        case "WhitespaceSplit": return .whitespaceSplit
        case "Punctuation":
            return .punctuation(try behavior(fields["behavior"], path + ".behavior", default: .isolated))
        case "Digits":
            return .digits(individual: try bool(fields["individual_digits"], path + ".individual_digits", default: false))
        case "Split":
            return .split(try pattern(fields["pattern"], path + ".pattern"),
                          try behavior(fields["behavior"], path + ".behavior", default: .removed),
                          invert: try bool(fields["invert"], path + ".invert", default: false))
        case "Sequence":
            return .sequence(try array(fields["pretokenizers"], path + ".pretokenizers").enumerated().map {
                try preTokenizer($0.element, "\(path).pretokenizers[\($0.offset)]")
            })
        default:
            throw fail(path + ".type", "pre-tokenizer \"\(kind)\" is not supported")
        }
    }

    // MARK: - Post-processors

    private func postProcessor(_ value: JSONValue, _ path: String, vocabulary: Vocabulary) throws -> PostProcessor {
        let fields = try object(value, path)
        let kind = try type(fields, path)
        func special(_ key: String) throws -> Int32 {
            let entry = try array(fields[key], "\(path).\(key)")
            guard entry.count == 2, entry[0].string != nil else { throw fail("\(path).\(key)", "expected [token, id]") }
            let id = try self.id(entry[1], "\(path).\(key)[1]")
            guard Int(id) < vocabulary.count else { throw fail("\(path).\(key)[1]", "id \(id) is outside the vocabulary (\(vocabulary.count))") }
            return id
        }
        switch kind {
        case "BertProcessing": return .bert(cls: try special("cls"), sep: try special("sep"))
        case "RobertaProcessing": return .roberta(cls: try special("cls"), sep: try special("sep"))
        case "ByteLevel": return .none
        case "TemplateProcessing":
            var specials: [String: [Int32]] = [:]
            for (name, entry) in try object(fields["special_tokens"], path + ".special_tokens") {
                let entryPath = "\(path).special_tokens.\(name)"
                let ids = try array(try object(entry, entryPath)["ids"], entryPath + ".ids").enumerated().map {
                    try id($0.element, "\(entryPath).ids[\($0.offset)]")
                }
                for id in ids where Int(id) >= vocabulary.count {
                    throw fail(entryPath + ".ids", "id \(id) is outside the vocabulary (\(vocabulary.count))")
                }
                specials[name] = ids
            }
            func template(_ key: String) throws -> [PostProcessor.TemplatePart] {
                try array(fields[key], "\(path).\(key)").enumerated().map { item -> PostProcessor.TemplatePart in
                    let (index, entry) = (item.offset, item.element)
                    let partPath = "\(path).\(key)[\(index)]"
                    let part = try object(entry, partPath)
                    if let special = part["SpecialToken"] {
                        let fields = try object(special, partPath + ".SpecialToken")
                        let name = try string(fields["id"], partPath + ".SpecialToken.id")
                        guard let ids = specials[name] else {
                            throw fail(partPath + ".SpecialToken.id", "\"\(name)\" is not in special_tokens")
                        }
                        return .special(ids: ids, type: Int32(try integer(fields["type_id"] ?? .number(0), partPath + ".SpecialToken.type_id", range: 0...255)))
                    }
                    if let sequence = part["Sequence"] {
                        let fields = try object(sequence, partPath + ".Sequence")
                        let name = try string(fields["id"], partPath + ".Sequence.id")
                        guard name == "A" || name == "B" else { throw fail(partPath + ".Sequence.id", "expected A or B") }
                        return .sequence(second: name == "B", type: Int32(try integer(fields["type_id"] ?? .number(0), partPath + ".Sequence.type_id", range: 0...255)))
                    }
                    throw fail(partPath, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}")
                }
            }
            return .template(single: try template("single"), pair: try template("pair"))
        case "Sequence":
            var chosen: PostProcessor = .none
            for (index, entry) in try array(fields["processors"], path + ".processors").enumerated() {
                let processor = try postProcessor(entry, "\(path).processors[\(index)]", vocabulary: vocabulary)
                if case .none = processor { continue }
                if case .none = chosen {
                    chosen = processor
                } else {
                    throw fail("\(path).processors[\(index)]", "only one post-processor that adds tokens is supported in a Sequence")
                }
            }
            return chosen
        default:
            throw fail(path + ".type", "post-processor \"\(kind)\" is not supported")
        }
    }
}

extension SplitBehavior {
    /// The names `tokenizer.json` writes (PascalCase) and the lower-case ones the Python API takes.
    static let allNames: [String: SplitBehavior] = [
        "removed": .removed, "isolated": .isolated, "merged_with_previous": .mergedWithPrevious,
        "merged_with_next": .mergedWithNext, "contiguous": .contiguous,
    ]
}
