#!/usr/bin/env python3
"""Reference fixtures for the Swift WordPiece tokenizer (Sources/BertologyEngine/Tokenizer).

Run on a developer machine with the reference environment (never in CI):

    tools/reference/make-venv    # once: the pinned Python environment in .venv/
    .venv/bin/python tools/reference/tokenizer_reference.py [--model DIR] [--glue DIR]

The reference is `transformers.BertTokenizer` of transformers 5, which runs the Rust `tokenizers`
library (BertNormalizer + BertPreTokenizer + WordPiece + TemplateProcessing), built the way a user's
checkpoint folder gives it: `BertTokenizer.from_pretrained(model_folder)` (reads tokenizer.json and
tokenizer_config.json). The script also builds it from a folder that holds only vocab.txt
(`from_pretrained(tmp, do_lower_case=True)`, a checkpoint without tokenizer.json), checks that the
two agree on every fixture, and prints where the old pure-Python `BertTokenizerLegacy` differs
(information only: it is not the target).

Outputs, under Tests/BertologyTests/Fixtures/tokenizer/:

glue-<TASK>.tsv  (TASK = CoLA, MRPC, RTE, SST-2, STS-B, QNLI; dev.tsv of each)
    Lines starting with '#' are comments. Every other line is
        <line> TAB <column> TAB <count> TAB <hash>
    line    1-based line number of the row in <glue>/<TASK>/dev.tsv (the header, where there is one,
            is line 1; lines are split on LF only, a leading UTF-8 BOM is dropped, fields on TAB).
    column  the name of the text column (CoLA: sentence, SST-2: sentence, MRPC: #1 String and
            #2 String, RTE/STS-B: sentence1 and sentence2, QNLI: question and sentence), each encoded
            alone as tok(text); or "pair" for the two text columns encoded as
            tok(a, b, truncation="longest_first", max_length=128).
    count   number of tokens of the encoding (specials included).
    hash    FNV-1a 64-bit, as 16 lowercase hex digits, of the sequence of 32-bit values
                input_ids ++ token_type_ids ++ word_ids
            (word_ids as in BatchEncoding.word_ids(), None written as 0xFFFFFFFF), each value fed
            to the hash as its 4 bytes little-endian. FNV-1a 64: h = 0xcbf29ce484222325; for each
            byte: h ^= byte; h = (h * 0x100000001b3) mod 2^64.

glue-full.json
    {"entries": [{"task", "line", "column", "ids", "typeIds", "wordIds"}]}: the full encodings of a
    few hundred of the rows above (the first rows of each task, every sentence with a character
    no earlier entry had, and the most truncated pairs). wordIds uses null for None.

hard-strings.json
    {"tokenizers": {name: {"vocab": path relative to the fixtures folder or "default-model",
                           "doLowerCase", "stripAccents" (null = follows doLowerCase),
                           "tokenizeChineseChars"}},
     "cases": [{"name", "tokenizer",
                "text" and optional "pair"            (a string encoded as tok(text, pair, ...)), or
                "words" and optional "pairWords"      (is_split_into_words=True),
                "maxLength" (null = no truncation, else truncation="longest_first"),
                "expected": {"tokens", "ids", "typeIds", "attentionMask", "wordIds", "sequenceIds",
                             "truncated", "tokenized" (tok.tokenize(text), text cases only)}}]}
    "truncated" is true when the encoding without truncation is longer.

tiny-vocab.txt
    A small vocabulary (written by this script) used by the "tiny-*" tokenizers above: cased and
    uncased words, precomposed and decomposed accents as distinct tokens, CJK and special tokens.
"""
import argparse
import json
import os
import pathlib
import shutil
import sys
import tempfile
import unicodedata
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import transformers  # noqa: E402
from transformers import BertTokenizer, BertTokenizerLegacy  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests/BertologyTests/Fixtures/tokenizer"

# (task, text columns by index, names of those columns, has header)
GLUE_TASKS = [
    ("CoLA", [3], ["sentence"], False),
    ("MRPC", [3, 4], ["#1 String", "#2 String"], True),
    ("RTE", [1, 2], ["sentence1", "sentence2"], True),
    ("SST-2", [0], ["sentence"], True),
    ("STS-B", [7, 8], ["sentence1", "sentence2"], True),
    ("QNLI", [1, 2], ["question", "sentence"], True),
]
PAIR_MAX_LENGTH = 128
NONE_WORD = 0xFFFFFFFF


def fnv1a64(values):
    h = 0xCBF29CE484222325
    for v in values:
        for byte in (v & 0xFFFFFFFF).to_bytes(4, "little"):
            h ^= byte
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def encoding_hash(enc):
    words = [NONE_WORD if w is None else w for w in enc.word_ids()]
    return fnv1a64(list(enc["input_ids"]) + list(enc["token_type_ids"]) + words)


def read_glue(glue, task, has_header):
    text = (glue / task / "dev.tsv").read_bytes().decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    start = 1 if has_header else 0
    return [(number + 1, line.split("\t")) for number, line in enumerate(lines) if number >= start]


def full_entry(task, line, column, enc):
    return {"task": task, "line": line, "column": column, "ids": list(enc["input_ids"]),
            "typeIds": list(enc["token_type_ids"]), "wordIds": enc.word_ids()}


class Comparison:
    """Counts where another tokenizer disagrees with the reference, with a few examples."""

    def __init__(self, name):
        self.name, self.compared, self.differ, self.examples = name, 0, 0, []

    def add(self, label, reference, other):
        self.compared += 1
        if reference != other:
            self.differ += 1
            if len(self.examples) < 40:
                self.examples.append((label, reference, other))

    def report(self):
        print(f"{self.name}: {self.differ} of {self.compared} encodings differ")
        for label, reference, other in self.examples:
            print(f"  {label}\n    reference: {reference}\n    {self.name}: {other}")


def encode_fields(enc):
    return (list(enc["input_ids"]), list(enc["token_type_ids"]), enc.word_ids())


def glue_fixtures(glue, reference, bare, legacy):
    bare_cmp, legacy_cmp = Comparison("bare vocab.txt"), Comparison("BertTokenizerLegacy")
    full, seen_chars, sizes = [], set(), {}
    truncated_pairs = []
    for task, columns, names, has_header in GLUE_TASKS:
        rows = read_glue(glue, task, has_header)
        out = [f"# GLUE {task} dev.tsv through transformers {transformers.__version__} BertTokenizer "
               f"(tokenizers backend); format: see tools/reference/tokenizer_reference.py",
               "# line\tcolumn\tcount\thash"]
        for row_index, (line, fields) in enumerate(rows):
            for index, name in zip(columns, names):
                text = fields[index]
                enc = reference(text)
                out.append(f"{line}\t{name}\t{len(enc['input_ids'])}\t{encoding_hash(enc):016x}")
                bare_cmp.add(f"{task}:{line}:{name}", encode_fields(enc), encode_fields(bare(text)))
                legacy_cmp.add(f"{task}:{line}:{name} {text[:60]!r}",
                               reference.convert_ids_to_tokens(enc["input_ids"]),
                               legacy.convert_ids_to_tokens(legacy(text)["input_ids"]))
                new_chars = {c for c in text if ord(c) > 127} - seen_chars
                if row_index < 8 or new_chars:
                    seen_chars |= new_chars
                    full.append(full_entry(task, line, name, enc))
            if len(columns) == 2:
                a, b = fields[columns[0]], fields[columns[1]]
                enc = reference(a, b, truncation="longest_first", max_length=PAIR_MAX_LENGTH)
                out.append(f"{line}\tpair\t{len(enc['input_ids'])}\t{encoding_hash(enc):016x}")
                bare_cmp.add(f"{task}:{line}:pair", encode_fields(enc),
                             encode_fields(bare(a, b, truncation="longest_first", max_length=PAIR_MAX_LENGTH)))
                legacy_enc = legacy(a, b, truncation="longest_first", max_length=PAIR_MAX_LENGTH)
                legacy_cmp.add(f"{task}:{line}:pair", reference.convert_ids_to_tokens(enc["input_ids"]),
                               legacy.convert_ids_to_tokens(legacy_enc["input_ids"]))
                untruncated = len(reference(a, b)["input_ids"])
                if row_index < 8:
                    full.append(full_entry(task, line, "pair", enc))
                elif untruncated > PAIR_MAX_LENGTH:
                    truncated_pairs.append((untruncated, task, line, enc))
        path = FIXTURES / f"glue-{task}.tsv"
        path.write_text("\n".join(out) + "\n", encoding="utf-8")
        sizes[path.name] = path.stat().st_size
    # The most truncated pairs (odd and even overflow, one side short or both long).
    truncated_pairs.sort(key=lambda item: -item[0])
    for _, task, line, enc in truncated_pairs[:24]:
        full.append(full_entry(task, line, "pair", enc))
    path = FIXTURES / "glue-full.json"
    path.write_text(json.dumps({"entries": full}, separators=(",", ":")) + "\n", encoding="utf-8")
    sizes[path.name] = path.stat().st_size
    print(f"GLUE: {len(full)} full entries, {len(truncated_pairs)} pairs truncated at {PAIR_MAX_LENGTH}")
    return bare_cmp, legacy_cmp, sizes


# ---------------------------------------------------------------------------------------------
# Hard strings

TINY_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]",
    "a", "b", "c", "e", "i", "s", "x", "the", "The", "THE", "cafe", "café", "cafe\u0301", "Café",
    "é", "e\u0301", "\u0301", "##\u0301", "##é", "##e\u0301", "##s", "##a", "##b", "##e", "##ed",
    "un", "##aff", "##able", "aff", "able", "İ", "i\u0307", "ı", "ß", "ss", "ẞ", "σ", "ς", "Σ",
    "ﬁ", "fi", "中", "文", "中文", "豈", "##文", "!", ",", ".", "-", "[", "]", "#", "##", "###",
    "123", "##4", "4", "𝐀", "Ａ", "ａ", "नमस्ते", "ि", "ท", "##่", "😀", "👍", "##🏽",
    "\u00e9t\u00e9", "\u00c9t\u00c9", "long", "##word",
]

TINY_TOKENIZERS = {
    "tiny-uncased": {"doLowerCase": True, "stripAccents": None, "tokenizeChineseChars": True},
    "tiny-cased": {"doLowerCase": False, "stripAccents": None, "tokenizeChineseChars": True},
    "tiny-cased-strip": {"doLowerCase": False, "stripAccents": True, "tokenizeChineseChars": True},
    "tiny-lower-keep-accents": {"doLowerCase": True, "stripAccents": False, "tokenizeChineseChars": True},
    "tiny-no-chinese": {"doLowerCase": True, "stripAccents": None, "tokenizeChineseChars": False},
}


def swift_unicode_differences():
    """Scalars where Swift's Unicode data (checked on Swift 6.3.1) and the Rust crates disagree.

    Listed by hand from a one-off comparison of UnicodeTables.swift with Swift's
    Unicode.Scalar.Properties and Foundation's NFD; a few of each kind are enough to test that the
    Swift tokenizer reads the generated tables, not the platform.
    """
    return {
        "punctuation (P* differs: U+166D is P* only in the old crate, the rest only in Swift)": [0x061D, 0x09FD, 0x0A76, 0x0C77, 0x0C84, 0x166D, 0x1B4E,
                                                             0x1B7D, 0x2E43, 0x2E4F, 0x2E52, 0x2E5D, 0x10D6E, 0x10EAD,
                                                             0x10ED0, 0x10F55],
        "format (Cf in Swift, kept by the old crate)": [0x0890, 0x0891, 0x08E2, 0x110CD, 0x13430, 0x13438, 0x1343F],
        "nonspacing (Mn in Swift, not in the old crate)": [0x07FD, 0x0897, 0x08CA, 0x08D3, 0x09FE, 0x0AFA, 0x0C3C,
                                                           0x0D3B, 0x1ABF, 0x1AC0, 0x1DFA, 0x10D24, 0x11F00],
        "decomposition (NFD in Swift, not in the crate)": [0x11938],
    }


# Each scalar where Swift's Unicode data differs, alone and as a continuation: "a<X>b" then gives
# a, ##<X>, ##b when <X> is kept inside the word (the reference), and something else otherwise.
TINY_VOCAB += [token for scalars in swift_unicode_differences().values()
               for s in scalars for token in (chr(s), "##" + chr(s))]
assert len(set(TINY_VOCAB)) == len(TINY_VOCAB), "the tiny vocabulary repeats a token"


def hard_cases():
    long = lambda n: "a" * n  # noqa: E731
    cases = []

    def text(name, t, pair=None, max_length=None, tokenizer="default"):
        cases.append({"name": name, "tokenizer": tokenizer, "text": t, "pair": pair, "maxLength": max_length})

    def words(name, w, pair_words=None, max_length=None, tokenizer="default"):
        cases.append({"name": name, "tokenizer": tokenizer, "words": w, "pairWords": pair_words,
                      "maxLength": max_length})

    strings = {
        "ascii sentence": "Hello, world! This is BERT's tokenizer (v2.0) -- testing: a.b,c;d?",
        "accents precomposed": "Café naïve résumé Ångström Željko façade",
        "accents decomposed": "Cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030angstro\u0308m",
        "combining stack reordered": "a\u0328\u0301 e\u0301\u0328 o\u0323\u0302 x\u0315\u0300",
        "stray combining marks": "\u0301start mid\u0301dle \u0301 \u20dd\u20e3 end\u0361",
        "cjk unified": "我爱北京天安门。中文分词测试",
        "cjk extension A and B": "\u3400\u4db5 \U00020000\U0002a6df",
        "cjk extensions C D E F G": "\U0002a700 \U0002b740 \U0002b820 \U0002b920 \U0002ceb0 \U00030000 \U00031350 \U0002ebf0",
        "cjk compatibility ideographs": "\uf900\uf901\ufa0e \U0002f800\U0002fa1d",
        "cjk mixed with latin": "BERT模型很好used在NLP",
        "japanese kana": "ひらがな カタカナ ｶﾀｶﾅ 東京タワー",
        "korean hangul": "한국어 텍스트 안녕하세요 \u1100\u1161\u11a8",
        "emoji": "I ❤️ NLP 😀👍🏽 👨‍👩‍👧‍👦 🇩🇪🇺🇸 1️⃣ 🫠",
        "emoji glued to words": "great😀job,👍fine",
        "arabic": "مرحبا بالعالم، هذا اختبار؟ ﷺ \u0640\u064b",
        "hebrew": "שָׁלוֹם עוֹלָם",
        "devanagari": "नमस्ते दुनिया। हिन्दी",
        "thai": "สวัสดีครับ ภาษาไทย",
        "zero width": "zero\u200bwidth join\u200dner non\u200cjoiner bom\ufeffmark soft\u00adhyphen wj\u2060x",
        "control characters": "a\x00b\x07c\x1bd\x7fe\x80f\x85g\x9fh\x0bi\x0cj\x1ck\x1fl",
        "tabs and newlines": "line1\nline2\r\nline3\ttabbed\x0bvt",
        "unicode spaces": "a\u00a0b\u1680c\u2000d\u2001e\u2002f\u2003g\u2004h\u2005i\u2006j\u2007k\u2008l\u2009m"
                          "\u200an\u2028o\u2029p\u202fq\u205fr\u3000s\u180et\u200bu",
        "replacement character": "bad\ufffdbyte \ufffd",
        "unassigned and private use": "\u0378x \U000e0080y \ue000z \U000f0000w \U0010fffd \U0001fbff",
        "noncharacters": "\ufdd0a\uffffb\U0001fffe",
        "unicode 15 and 16 additions": "\U0001f6dc \U0001fae8 \U0001cc00 \U00010d40 \U000105c0 \U00016d40 "
                                       "\U00011380 \u0897 \U0001e030 \U00011f00",
        "turkish dotted and dotless i": "İstanbul ISTANBUL ıspanak İ ı i\u0307",
        "german sharp s": "Straße STRASSE ẞ groß",
        "greek final sigma": "ΟΔΟΣ Σίσυφος ΣΑΣ ς σ",
        "titlecase digraphs": "ǅemal ǈ ǋ Ǉ",
        "ligatures": "ﬁnance ﬂow ﬀ ﬃ Ĳ œ æ",
        "fullwidth forms": "ＡＢＣ ａｂｃ １２３ ！？ （ｘ）",
        "math alphanumerics": "𝐀𝐁𝐂 𝑥 𝔘𝔫𝔦 𝟙𝟚",
        "superscripts and roman numerals": "x² H₂O Ⅻ ⅻ ①",
        "numbers with punctuation": "3.14 1,000,000 $5.99 50% 10-20 2024/01/02 +1-800-555-0199 1e-5",
        "urls and emails": "https://example.com/path?q=1&x=y#frag user@example.org www.test.co.uk",
        "special tokens in text": "[CLS] hello [SEP] world [MASK] x[MASK]y [PAD] [UNK]",
        "special tokens lowercase": "[cls] [sep] [mask] [unk] [pad]",
        "special tokens spaced or broken": "[ CLS ] [CLS [CLS]] [[SEP]] [C\u0000LS] [CLS\u200b] ［CLS］",
        "special tokens glued": "a[CLS]b[SEP][SEP]c",
        "hash marks": "#hashtag ##double ###triple C# F#m",
        "empty": "",
        "whitespace only": " \t\n\u3000 ",
        "controls only": "\x00\x07\ufeff",
        "word of 99 chars": long(99),
        "word of 100 chars": long(100),
        "word of 101 chars": long(101),
        "word of 300 chars": long(300),
        "100 chars after stripping accents": "e\u0301" * 100,
        "101 chars after stripping accents": "é" * 101,
        "long word among short": "short " + "x" * 150 + " short",
        "unknown piece inside word": "hello\u2603world",
        "punctuation kinds": "«quote» „low“ ‘single’ — – … · ¿que? ¡si! 「括弧」 ※ § ¶ † ‡",
        "symbols that are not punctuation": "$ + < = > ^ ` | ~ € £ ¥ © ® ™ ° ± × ÷",
        "apostrophes GLUE style": "doesn 't company 's it 's",
        "mixed scripts": "Привет мир Γειά σου κόσμε Ελληνικά",
        "repeated punctuation": "wow!!! what?!? ...... ----",
        "byte order mark at start": "\ufeffHello",
        "variation selectors": "︎☺︎ ☺️ \U000e0100x",
    }
    for name, t in strings.items():
        text(name, t)
    for kind, scalars in swift_unicode_differences().items():
        text("swift differs: " + kind, " ".join(f"a{chr(s)}b {chr(s)}" for s in scalars))

    # Pairs and truncation.
    a = "The quick brown fox jumps over the lazy dog."
    b = "A fast auburn fox leaped above a sleepy hound!"
    text("pair", a, b)
    text("pair with empty second", a, "")
    text("pair with empty first", "", b)
    text("pair of whitespace", " ", " ")
    for n in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 20, 25, 26, 27, 30]:
        text(f"pair truncated to {n}", a, b, n)
    for n in [4, 5, 6, 7, 8, 9, 10, 15, 16]:
        text(f"short first, long second, max {n}", "Hi", b + " " + b, n)
        text(f"long first, short second, max {n}", a + " " + a, "Yes.", n)
    for n in [0, 1, 2, 3, 4, 5, 12]:
        text(f"single truncated to {n}", a, None, n)
    text("single not truncated", a, None, 512)
    text("pair equal lengths odd max", "a b c d e", "f g h i j", 9)
    text("pair equal lengths even max", "a b c d e", "f g h i j", 10)
    text("truncation inside a word", "unaffable unaffable", "unbelievably", 6)

    # Pre-split words.
    words("words", ["Hello", "world", "!"])
    words("words with spaces and punctuation", ["New York", "isn't", "U.S.A.", "e-mail"])
    words("words with empty and whitespace", ["a", "", " ", "b", "\u200b", "c"])
    words("words with specials", ["[CLS]", "x[SEP]y", "[mask]"])
    words("words with accents and cjk", ["Café", "中文", "naïve", "İ"])
    words("words long", ["a" * 100, "b" * 101, "ok"])
    words("words empty list", [])
    words("word pair", ["Is", "it", "raining", "?"], ["Yes", ",", "it", "is", "."])
    words("word pair empty second", ["one"], [])
    words("word pair truncated", ["unaffable", "words", "here", "and", "more"], ["short"], 6)
    words("word pair truncated both", ["a", "b", "c", "d", "e", "f"], ["g", "h", "i", "j", "k"], 8)

    # The tiny vocabulary under each option set.
    tiny_texts = [
        "The THE the Café café cafe\u0301 CAFÉ",
        "é e\u0301 É E\u0301 été ÉtÉ",
        "İ ı I i\u0307 ß ẞ SS σ ς Σ ΣΑΣ",
        "ﬁ fi 中文 中 文字 豈 \uf900",
        "unaffable unaff able aff",
        "a#b ## ### #",
        "ab ba aab cafes caféed",
        "[CLS] [cls] x[MASK]y [UNK] [unused0]",
        "𝐀 Ａ ａ ① x\u0301\u0301",
        "नमस्ते नमस्ति ท่ 😀 👍🏽 👍",
        "long" + "word" * 30,
    ]
    for name in TINY_TOKENIZERS:
        for i, t in enumerate(tiny_texts):
            text(f"{name} text {i}", t, tokenizer=name)
        text(f"{name} pair", tiny_texts[0], tiny_texts[1], 12, tokenizer=name)
        words(f"{name} words", ["Café", "cafe\u0301s", "İ", "中文"], tokenizer=name)
        for kind, scalars in swift_unicode_differences().items():
            text(f"{name} swift differs: {kind}", " ".join(f"a{chr(s)}b {chr(s)}" for s in scalars), tokenizer=name)
    return cases


def run_case(tok, case):
    kwargs = {}
    if case["maxLength"] is not None:
        kwargs = {"truncation": "longest_first", "max_length": case["maxLength"]}
    if "words" in case:
        first, second = case["words"], case["pairWords"]
        call = lambda **kw: tok(first, second, is_split_into_words=True, **kw)  # noqa: E731
    else:
        first, second = case["text"], case["pair"]
        call = lambda **kw: tok(first, second, **kw)  # noqa: E731
    enc = call(**kwargs)
    full_length = len(call()["input_ids"])
    result = {
        "tokens": tok.convert_ids_to_tokens(enc["input_ids"]),
        "ids": list(enc["input_ids"]),
        "typeIds": list(enc["token_type_ids"]),
        "attentionMask": list(enc["attention_mask"]),
        "wordIds": enc.word_ids(),
        "sequenceIds": enc.sequence_ids(),
        "truncated": full_length > len(enc["input_ids"]),
    }
    if "text" in case:
        result["tokenized"] = tok.tokenize(case["text"])
    return result


def legacy_result(tok, case):
    kwargs = {"truncation": "longest_first", "max_length": case["maxLength"]} if case["maxLength"] is not None else {}
    try:
        if "words" in case:
            enc = tok(case["words"], case["pairWords"], is_split_into_words=True, **kwargs)
        else:
            enc = tok(case["text"], case["pair"], **kwargs)
        return tok.convert_ids_to_tokens(enc["input_ids"])
    except Exception as error:  # the legacy tokenizer raises on some truncation requests
        return f"error: {error}"


def only_vocab_folder(vocab_path):
    folder = pathlib.Path(tempfile.mkdtemp(prefix="bertology-vocab-"))
    shutil.copyfile(vocab_path, folder / "vocab.txt")
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=pathlib.Path, default=ROOT / "models/all-MiniLM-L6-v2")
    parser.add_argument("--glue", type=pathlib.Path, default=ROOT.parent / "shared/data/glue")
    args = parser.parse_args()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    print(f"transformers {transformers.__version__}, tokenizers {__import__('tokenizers').__version__}")

    reference = BertTokenizer.from_pretrained(str(args.model))
    bare = BertTokenizer.from_pretrained(str(only_vocab_folder(args.model / "vocab.txt")), do_lower_case=True)
    legacy = BertTokenizerLegacy.from_pretrained(str(args.model))
    for tok in (reference, bare):
        assert type(tok._tokenizer).__name__ == "Tokenizer", "expected the Rust tokenizers backend"

    tiny_path = FIXTURES / "tiny-vocab.txt"
    tiny_path.write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    tiny_folder = only_vocab_folder(tiny_path)
    tokenizers = {"default": reference}
    legacy_tokenizers = {"default": legacy}
    for name, options in TINY_TOKENIZERS.items():
        kwargs = {"do_lower_case": options["doLowerCase"], "strip_accents": options["stripAccents"],
                  "tokenize_chinese_chars": options["tokenizeChineseChars"]}
        tokenizers[name] = BertTokenizer.from_pretrained(str(tiny_folder), **kwargs)
        legacy_tokenizers[name] = BertTokenizerLegacy(vocab_file=str(tiny_path), **kwargs)

    bare_cmp, legacy_cmp, sizes = glue_fixtures(args.glue, reference, bare, legacy)

    cases = hard_cases()
    hard_bare = Comparison("bare vocab.txt (hard strings)")
    hard_legacy = Comparison("BertTokenizerLegacy (hard strings)")
    for case in cases:
        tok = tokenizers[case["tokenizer"]]
        case["expected"] = run_case(tok, case)
        if case["tokenizer"] == "default":
            other = run_case(bare, case)
            hard_bare.add(case["name"], case["expected"], other)
        hard_legacy.add(case["name"], case["expected"]["tokens"], legacy_result(legacy_tokenizers[case["tokenizer"]], case))
        for key in ("pair", "pairWords"):
            if key in case and case[key] is None:
                del case[key]
    described = {"default": {"vocab": "default-model", "doLowerCase": True, "stripAccents": None,
                             "tokenizeChineseChars": True}}
    for name, options in TINY_TOKENIZERS.items():
        described[name] = {"vocab": "tokenizer/tiny-vocab.txt", **options}
    path = FIXTURES / "hard-strings.json"
    path.write_text(json.dumps({"tokenizers": described, "cases": cases}, ensure_ascii=False, indent=None,
                               separators=(",", ":")).replace('{"name"', '\n{"name"') + "\n", encoding="utf-8")
    sizes[path.name] = path.stat().st_size
    sizes[tiny_path.name] = tiny_path.stat().st_size
    print(f"hard strings: {len(cases)} cases")

    for comparison in (bare_cmp, hard_bare, legacy_cmp, hard_legacy):
        comparison.report()
    total = sum(sizes.values())
    print("fixture sizes: " + ", ".join(f"{k} {v}" for k, v in sorted(sizes.items())) + f"; total {total} bytes")
    if bare_cmp.differ or hard_bare.differ:
        sys.exit("from_pretrained(folder) and a bare vocab.txt disagree: see above")


if __name__ == "__main__":
    main()
