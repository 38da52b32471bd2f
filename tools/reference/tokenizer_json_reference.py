#!/usr/bin/env python3
"""Reference fixtures for the `tokenizer.json` reader (Sources/BertologyEngine/Tokenizer).

Run on a developer machine with the reference environment (never in CI; no torch, no hub access):

    .venv/bin/python tools/reference/tokenizer_json_reference.py [--glue DIR]

It BUILDS small tokenizers of each kind offline, trained on GLUE text (default ../shared/data/glue,
relative to the repository root), the way the real checkpoints' tokenizers are made:

    wordpiece    BERT: BertNormalizer (lower-case), BertPreTokenizer, WordPiece, [CLS] $A [SEP] template
    roberta      byte-level BPE: ByteLevel pre-tokenizer with add_prefix_space, RobertaProcessing,
                 <s> <pad> </s> <unk> <mask> (<mask> with lstrip)
    modernbert   byte-level BPE: NFC, ByteLevel without prefix space, [CLS]/[SEP] TemplateProcessing,
                 [MASK] with lstrip, a normalized non-special added token
    xlmr         Unigram from `sentencepiece` (nmt_nfkc), converted by transformers' XLMRobertaConverter:
                 Precompiled charsmap, Metaspace, <s> $A </s> template
    albert       Unigram, converted by AlbertConverter: Replace, NFKD, StripAccents, Lowercase,
                 Precompiled, Replace(regex) in a Sequence; [CLS]/[SEP] template
    debertav3    Unigram, converted by transformers' DebertaV2Converter: Strip, Precompiled, Replace(regex),
                 Metaspace; [CLS]/[SEP] template
    llama        BPE with byte fallback (<0xXX> tokens), fused unknowns, Metaspace with prepend_scheme
                 first and no split, a `<s> $A` template
    splitregex   byte-level BPE behind a Split regex (the GPT-4 pattern), ByteLevel without regex,
                 ignore_merges, NFC, a Sequence of ByteLevel and TemplateProcessing post-processors
    mixed        WordPiece behind NFKC, Strip, Replace, NFD, StripAccents, Lowercase, Prepend; Whitespace,
                 Digits, Punctuation (contiguous); BertProcessing; added tokens with single_word,
                 lstrip/rstrip, normalized and not

Outputs, under Tests/BertologyTests/Fixtures/tokenizers/<kind>/:
    tokenizer.json   the tokenizer as the `tokenizers` library (0.23.3) saves it
    expected.json    {"cases": [{"name", "text" (and optional "pair") or "words" (and optional "pairWords"),
                      "maxLength" (null: no truncation, else longest_first to that many tokens, specials
                      included), "ids", "typeIds", "tokens", "wordIds" (null for specials)}]}
The expected values come from `tokenizers.Tokenizer.from_file(tokenizer.json)` with
`enable_truncation(maxLength, strategy="longest_first")` when maxLength is set: what transformers 5
runs for `tok(text, pair, truncation="longest_first", max_length=N)`.
"""
import argparse
import json
import os
import pathlib
import random
import shutil
import tempfile
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import sentencepiece as spm  # noqa: E402
from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers,  # noqa: E402
                        pre_tokenizers, processors, trainers)

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests/BertologyTests/Fixtures/tokenizers"

# The hard corpus: accents (precomposed and decomposed), CJK, emoji and ZWJ sequences, fullwidth
# forms, control characters, runs of spaces, contractions, special tokens written in the text.
HARD = [
    "Hello, world!",
    "The café's crème brûlée — naïve coöperation.",
    "Cafe\u0301 and cafe\u0301\u0327 and A\u030A\u0323",
    "ÀÉÎÕÜ àéîõü Ǆ ǅ ǆ ﬁ ﬂ ß ẞ İstanbul ΣΊΣΥΦΟΣ",
    "日本語のテキストと中文文本，还有한국어.",
    "emoji 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇺🇸🇫🇷 ❤️ #️⃣",
    "ＦＵＬＬＷＩＤＴＨ　ｆｏｒｍｓ　１２３！？",
    "tab\there, nul\u0000x, bell\u0007, del\u007f, nbsp\u00a0, zwsp\u200b, soft\u00adhyphen",
    "  leading and   runs   of    spaces   ",
    "   ",
    "",
    "it's we'll they're I'd you've I'm can't",
    "numbers 1234567 3.14159 ½ ² ① ٣ ४२",
    "[CLS] [SEP] [MASK] <s> </s> <mask> <pad> <unk> [cls]",
    "a<mask>b  <mask> c [MASK]d",
    "the movie, movies, amovie movie! <sep>x y <sep> z  [MASK]  w Éte éte ``quoted''",
    "<s></s><unk><|begin_of_text|>x<|end_of_text|>",
    "12345 x1y2 ３４ 1,000.5 ٣٤",
    "Tabs\tand\nnewlines\r\n  and  \n\n blank",
    "\u2028line\u2029sep\u0085next\u000bvt\u000cff",
    "e\u0301\u0301\u0301 \u0300 \u0345\u0301 ̀a",
    "ｶﾞｷﾞｸﾞ ㈱ ㍻ ℃ Ⅻ ﷺ",
    "Ḱ ḱ ǰ ΐ ﬀ ŉ",
    "mixed👍text😀with🏽modifiers",
    "The quick brown fox jumps over the lazy dog.",
    "unbelievably unaffordable antidisestablishmentarianism",
    "\U0001F600\U0001F601 \U0010FFFD \uE000 \uFFFD",
    "x" * 120,
    "word " * 40,
]
PAIRS = [
    ("How old are you?", "I am 6 years old."),
    ("Café crème", "日本語 😀 text"),
    ("", "empty first"),
    ("  spaced  ", "\tother"),
    ("The first sentence is a lot longer than the second one, with many words in it.", "Short."),
]
TRUNCATIONS = [
    ("The first sentence is a lot longer than the second one, with many words in it.", "Short.", 12),
    ("A fairly long first text with quite a few words.", "And the second text is also rather long.", 10),
    ("one two three four five six", None, 5),
    ("one two three", "four five six", 7),
    ("Café crème brûlée 日本語 😀", "naïve 👨‍👩‍👧‍👦", 9),
]
WORDS = [
    (["Hello", "world", "!"], None),
    (["Café", "crème", "日本語", "👨‍👩‍👧‍👦"], ["naïve", "text"]),
    (["  spaced", "words  "], None),
]


def glue_sentences(glue, count, seed):
    sentences = []
    for task, column in [("SST-2", 0), ("MRPC", 3), ("RTE", 1), ("STS-B", 7), ("CoLA", 3)]:
        path = pathlib.Path(glue) / task / "train.tsv"
        lines = path.read_text(encoding="utf-8").split("\n")[1:]
        for line in lines:
            fields = line.split("\t")
            if len(fields) > column and fields[column].strip():
                sentences.append(fields[column])
    rng = random.Random(seed)
    rng.shuffle(sentences)
    return sentences[:count]


def training_text(glue):
    # GLUE text plus the hard corpus, so accents, CJK and emoji get some pieces of their own.
    return glue_sentences(glue, 20000, 1) + HARD * 20


def build_wordpiece(text):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(text, trainers.WordPieceTrainer(vocab_size=1500, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece()
    return tok


def build_roberta(text):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=1500, special_tokens=specials,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, normalized=False)])
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")),
                                                      trim_offsets=True, add_prefix_space=True)
    return tok


def build_modernbert(text):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]"]
    tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=1500, special_tokens=specials,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.add_special_tokens([AddedToken("[MASK]", lstrip=True, normalized=False)])
    # A normalized, non-special added token (ModernBERT has runs of whitespace as added tokens).
    tok.add_tokens([AddedToken("   ", normalized=True), AddedToken("café", normalized=True)])
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    return tok


def build_llama(text):
    """BPE with byte fallback as Llama 2 (transformers' non-legacy conversion): Metaspace with the
    `first` prepend scheme and no split, <0x00>..<0xFF> byte tokens in the model's vocabulary, fused
    unknowns, a `<s> $A` template."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=1200, special_tokens=["<unk>", "<s>", "</s>"],
                                                      limit_alphabet=300))
    document = json.loads(tok.to_str())
    vocab = document["model"]["vocab"]
    for byte in range(256):
        vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
    document["model"]["byte_fallback"] = True
    tok = Tokenizer.from_str(json.dumps(document))
    tok.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return tok


def build_split_regex(text):
    """Byte-level BPE behind a Split regex as Llama 3 / GPT-4: NFC, Split(the cl100k pattern,
    isolated), ByteLevel without its own regex, ignore_merges, a Sequence of post-processors."""
    pattern = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=1500, special_tokens=["<|begin_of_text|>",
                                                                                      "<|end_of_text|>"],
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    return tok


def build_mixed(text):
    """WordPiece behind the other components: NFKC, Strip, Prepend, Replace, StripAccents after NFD,
    Lowercase; Whitespace, Digits, Punctuation; BertProcessing; added tokens with single_word,
    lstrip/rstrip and normalized."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=20))
    tok.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Strip(left=True, right=False), normalizers.Replace("``", '"'),
        normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase(), normalizers.Prepend("^ ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Punctuation(behavior="contiguous")])
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    tok.train_from_iterator(text, trainers.WordPieceTrainer(vocab_size=1200, special_tokens=specials))
    tok.add_special_tokens([AddedToken("[MASK]", lstrip=True, rstrip=True, normalized=False)])
    tok.add_tokens([AddedToken("movie", single_word=True, normalized=True), AddedToken("Éte", normalized=True),
                    AddedToken("<sep>", lstrip=True, rstrip=True, normalized=False, special=False)])
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]")))
    return tok


def train_spm(text, folder, name, **options):
    corpus = folder / f"{name}.txt"
    corpus.write_text("\n".join(line.replace("\n", " ") for line in text if line.strip()), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(folder / name), model_type="unigram",
                                   vocab_size=800, character_coverage=0.9995, normalization_rule_name="nmt_nfkc",
                                   minloglevel=2, **options)
    return folder / f"{name}.model"


class SlowTokenizer:
    """What transformers' SentencePiece converters read from a slow tokenizer."""

    def __init__(self, model_path, ids=None, **attributes):
        self.vocab_file = str(model_path)
        self.processor = spm.SentencePieceProcessor(model_file=str(model_path))
        self.ids = ids or {}
        self.legacy = True
        self.add_prefix_space = True
        for key, value in attributes.items():
            setattr(self, key, value)

    def convert_tokens_to_ids(self, token):
        return self.ids.get(token, self.processor.piece_to_id(token))


def convert(converter_name, model_path, **attributes):
    import importlib
    converter = getattr(importlib.import_module("transformers.convert_slow_tokenizer"), converter_name)
    tok = converter(SlowTokenizer(model_path, **attributes)).converted()
    # As transformers registers them: the special tokens of the template and the mask.
    return tok


def build_spm_kinds(text, work):
    xlmr_model = train_spm(text, work, "xlmr")
    albert_model = train_spm(text, work, "albert", pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
                             pad_piece="<pad>", control_symbols=["[CLS]", "[SEP]", "[MASK]"])
    deberta_model = train_spm(text, work, "deberta", pad_id=0, unk_id=3, bos_id=1, eos_id=2, pad_piece="[PAD]",
                              unk_piece="[UNK]", bos_piece="[CLS]", eos_piece="[SEP]", user_defined_symbols=["[MASK]"])
    xlmr = convert("XLMRobertaConverter", xlmr_model, ids={"<s>": 0, "</s>": 2})
    xlmr.add_special_tokens([AddedToken("<s>", normalized=False), AddedToken("<pad>", normalized=False),
                             AddedToken("</s>", normalized=False), AddedToken("<unk>", normalized=False),
                             AddedToken("<mask>", lstrip=True, normalized=False)])
    albert = convert("AlbertConverter", albert_model, do_lower_case=True, keep_accents=False)
    albert.add_special_tokens([AddedToken(t, normalized=False) for t in ["<pad>", "<unk>", "[CLS]", "[SEP]"]]
                              + [AddedToken("[MASK]", lstrip=True, normalized=False)])
    deberta = convert("DebertaV2Converter", deberta_model, do_lower_case=False, split_by_punct=False)
    deberta.add_special_tokens([AddedToken(t, normalized=False) for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]])
    return {"xlmr": xlmr, "albert": albert, "debertav3": deberta}


def encode_case(tok, case):
    tok.no_truncation()
    if case.get("maxLength") is not None:
        tok.enable_truncation(case["maxLength"], strategy="longest_first")
    if "words" in case:
        if case.get("pairWords"):
            enc = tok.encode(case["words"], case["pairWords"], is_pretokenized=True)
        else:
            enc = tok.encode(case["words"], is_pretokenized=True)
    elif case.get("pair"):
        enc = tok.encode(case["text"], case["pair"])
    else:
        enc = tok.encode(case["text"])
    tok.no_truncation()
    return {"ids": enc.ids, "typeIds": enc.type_ids, "tokens": enc.tokens, "wordIds": enc.word_ids}


def cases(glue):
    result = []
    for index, text in enumerate(HARD):
        result.append({"name": f"hard-{index}", "text": text, "maxLength": None})
    for index, (a, b) in enumerate(PAIRS):
        result.append({"name": f"pair-{index}", "text": a, "pair": b, "maxLength": None})
    for index, (a, b, n) in enumerate(TRUNCATIONS):
        case = {"name": f"truncation-{index}", "text": a, "maxLength": n}
        if b is not None:
            case["pair"] = b
        result.append(case)
    for index, (words, pair) in enumerate(WORDS):
        case = {"name": f"words-{index}", "words": words, "maxLength": None}
        if pair is not None:
            case["pairWords"] = pair
        result.append(case)
    for index, text in enumerate(glue_sentences(glue, 60, 7)):
        result.append({"name": f"glue-{index}", "text": text, "maxLength": None})
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--glue", default=str(ROOT.parent / "shared/data/glue"))
    args = parser.parse_args()
    text = training_text(args.glue)
    kinds = {"wordpiece": build_wordpiece(text), "roberta": build_roberta(text),
             "modernbert": build_modernbert(text), "llama": build_llama(text), "splitregex": build_split_regex(text),
             "mixed": build_mixed(text)}
    with tempfile.TemporaryDirectory() as tmp:
        kinds.update(build_spm_kinds(text, pathlib.Path(tmp)))
    all_cases = cases(args.glue)
    for kind, tok in kinds.items():
        folder = FIXTURES / kind
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        tok.no_truncation()
        tok.no_padding()
        tok.save(str(folder / "tokenizer.json"), pretty=False)
        reloaded = Tokenizer.from_file(str(folder / "tokenizer.json"))
        entries = []
        for case in all_cases:
            entry = dict(case)
            entry.update(encode_case(reloaded, case))
            entries.append(entry)
        with open(folder / "expected.json", "w", encoding="utf-8") as f:
            json.dump({"kind": kind, "cases": entries}, f, ensure_ascii=False, indent=None)
            f.write("\n")
        size = (folder / "tokenizer.json").stat().st_size
        print(f"{kind}: tokenizer.json {size // 1024} KB, {len(entries)} cases")


if __name__ == "__main__":
    main()
