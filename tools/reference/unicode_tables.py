#!/usr/bin/env python3
"""Generates Sources/BertologyEngine/Tokenizer/UnicodeTables.swift from the reference tokenizer itself.

Run on a developer machine with the reference environment (never in CI):

    tools/reference/make-venv    # once: the pinned Python environment in .venv/
    .venv/bin/python tools/reference/unicode_tables.py            # writes the Swift file
    .venv/bin/python tools/reference/unicode_tables.py --check    # exits 1 if it would change

Why: `transformers.BertTokenizer` (transformers 5) runs the Rust `tokenizers` library, whose BERT
normalizer and pre-tokenizer decide character classes with tables of their own Unicode versions:
the `unicode_categories` crate (controls, format, private use, nonspacing marks, punctuation),
`unicode-normalization-alignments` (NFD), and Rust's `char::is_whitespace` / `char::to_lowercase`
of the compiler that built the wheel. Swift's standard library carries another (newer) Unicode
version, so the Swift tokenizer reads only the tables generated here and never asks the platform.

Every table is measured by calling the installed `tokenizers` on each Unicode scalar (U+0000 to
U+10FFFF, surrogates excluded), not read from documentation:

  drop         BertNormalizer(clean_text) removes the scalar (NUL, U+FFFD, Cc/Cf/Co as the crate has
               them, except TAB/LF/CR)
  cleanSpace   BertNormalizer(clean_text) turns the scalar into U+0020
  whitespace   BertPreTokenizer splits on the scalar and removes it (Rust char::is_whitespace)
  punctuation  BertPreTokenizer isolates the scalar (ASCII punctuation or the crate's P* categories)
  nonspacing   the strip-accents step removes the scalar (the crate's Mn), where NFD leaves it alone
  ccc          canonical combining class as the NFD of the crate orders marks (values from Python's
               unicodedata, kept only where the crate's NFD is seen to reorder with them)
  decomposition  NFD of the single scalar, where it differs from the scalar (Hangul syllables are
               left to the algorithm, which is checked here against the crate)
  lowercase    BertNormalizer(lowercase) of the single scalar, where it differs (char::to_lowercase)
  chinese      the ranges of is_chinese_char in tokenizers/src/normalizers/bert.rs (checked here)
For the other components of tokenizer.json (docs/TOKENIZERS.md):
  mark         the StripAccents normalizer removes the scalar (is_combining_mark: Mn, Mc, Me)
  letter       \p{L} of the ByteLevel pre-tokenizer's Oniguruma regex ("a" + scalar stays one piece)
  number       \p{N} of that regex ("1" + scalar stays one piece); its \s is checked to be `whitespace`
  word         \w of the Whitespace pre-tokenizer's regex (Rust regex crate; "a" + scalar stays one piece)
  numeric      Rust char::is_numeric, as the Digits pre-tokenizer splits ("a" + scalar becomes two pieces)
"""
import argparse
import pathlib
import sys
import unicodedata

import tokenizers
from tokenizers import normalizers, pre_tokenizers

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "Sources/BertologyEngine/Tokenizer/UnicodeTables.swift"

# tokenizers/src/normalizers/bert.rs, is_chinese_char.
CHINESE_RANGES = [
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
]

HANGUL_S_BASE, HANGUL_L_BASE, HANGUL_V_BASE, HANGUL_T_BASE = 0xAC00, 0x1100, 0x1161, 0x11A7
HANGUL_V_COUNT, HANGUL_T_COUNT, HANGUL_S_COUNT = 21, 28, 11172


def scalars():
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        yield cp


def hangul_decomposition(cp):
    index = cp - HANGUL_S_BASE
    l = HANGUL_L_BASE + index // (HANGUL_V_COUNT * HANGUL_T_COUNT)
    v = HANGUL_V_BASE + (index % (HANGUL_V_COUNT * HANGUL_T_COUNT)) // HANGUL_T_COUNT
    t = HANGUL_T_BASE + index % HANGUL_T_COUNT
    return [l, v] if t == HANGUL_T_BASE else [l, v, t]


def to_ranges(codepoints):
    ranges = []
    for cp in sorted(codepoints):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return ranges


def measure():
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    chinese = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    lower = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True)
    nfd = normalizers.NFD()
    pretok = pre_tokenizers.BertPreTokenizer()
    strip_marks = normalizers.StripAccents()
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    words = pre_tokenizers.Whitespace()
    digits = pre_tokenizers.Digits(individual_digits=False)

    mark, letter, number, word, numeric, oniguruma_space = [], [], [], [], [], []
    drop, clean_space, whitespace, punctuation = [], [], [], []
    decomposition, lowercase, stripped = {}, {}, {}
    for cp in scalars():
        ch = chr(cp)
        cleaned = clean.normalize_str(ch)
        if cleaned == "":
            drop.append(cp)
        elif cleaned == " ":
            clean_space.append(cp)
        elif cleaned != ch:
            sys.exit(f"clean_text maps U+{cp:04X} to {cleaned!r}: not a drop/space/keep scalar")

        pieces = [p for p, _ in pretok.pre_tokenize_str("a" + ch + "b")]
        if pieces == ["a", "b"]:
            whitespace.append(cp)
        elif pieces == ["a", ch, "b"]:
            punctuation.append(cp)
        elif pieces != ["a" + ch + "b"]:
            sys.exit(f"BertPreTokenizer splits a U+{cp:04X} b as {pieces!r}")

        expected_chinese = any(lo <= cp <= hi for lo, hi in CHINESE_RANGES)
        if (chinese.normalize_str(ch) == f" {ch} ") != expected_chinese:
            sys.exit(f"is_chinese_char(U+{cp:04X}) disagrees with the ranges of bert.rs")

        decomposed = nfd.normalize_str(ch)
        if decomposed != ch:
            decomposition[cp] = [ord(c) for c in decomposed]
        stripped[cp] = strip.normalize_str(ch)

        lowered = lower.normalize_str(ch)
        if lowered != ch:
            lowercase[cp] = [ord(c) for c in lowered]

        if strip_marks.normalize_str(ch) == "":
            mark.append(cp)
        is_letter = len(byte_level.pre_tokenize_str("a" + ch)) == 1
        is_number = len(byte_level.pre_tokenize_str("1" + ch)) == 1
        if is_letter:
            letter.append(cp)
        if is_number:
            number.append(cp)
        if not is_letter and not is_number and len(byte_level.pre_tokenize_str("!" + ch)) == 2:
            oniguruma_space.append(cp)
        if [p for p, _ in words.pre_tokenize_str("a" + ch)] == ["a" + ch]:
            word.append(cp)
        if len(digits.pre_tokenize_str("a" + ch)) == 2:
            numeric.append(cp)

    # Nonspacing marks: scalars that NFD leaves alone and the strip step removes.
    nonspacing = {cp for cp, s in stripped.items() if s == "" and cp not in decomposition}
    for cp, s in stripped.items():
        parts = decomposition.get(cp, [cp])
        expected = "".join(chr(p) for p in parts if p not in nonspacing)
        if s != expected:
            sys.exit(f"strip_accents(U+{cp:04X}) = {s!r}, not NFD minus Mn ({expected!r})")

    for cp in range(HANGUL_S_BASE, HANGUL_S_BASE + HANGUL_S_COUNT):
        if decomposition.pop(cp, None) != hangul_decomposition(cp):
            sys.exit(f"NFD of Hangul syllable U+{cp:04X} is not the algorithmic one")

    # Canonical combining classes: the crate's NFD reorders "x A B" to "x B A" when ccc(A) > ccc(B) > 0.
    # Python's unicodedata gives the values (they never change for an assigned scalar); the crate's
    # table is older, so keep a value only where the crate reorders with it, and check the order
    # against reference marks of many classes.
    # Scalars that decompose are never looked up: NFD replaces them by their parts first.
    candidates = {cp: unicodedata.combining(chr(cp)) for cp in scalars()
                  if unicodedata.combining(chr(cp)) and cp not in decomposition}
    ccc = {}
    for cp, value in candidates.items():
        if value == 240:
            known = nfd.normalize_str("x" + chr(cp) + "\u0334") == "x\u0334" + chr(cp)  # U+0334 has ccc 1
        else:
            known = nfd.normalize_str("x\u0345" + chr(cp)) == "x" + chr(cp) + "\u0345"  # U+0345 has ccc 240
        if known:
            ccc[cp] = value
    references = {}
    for cp, value in sorted(ccc.items()):
        references.setdefault(value, cp)
    for cp, value in ccc.items():
        for ref_value, ref in references.items():
            if ref == cp:
                continue
            swapped = nfd.normalize_str("x" + chr(ref) + chr(cp)) == "x" + chr(cp) + chr(ref)
            if swapped != (ref_value > value):
                sys.exit(f"ccc(U+{cp:04X}) = {value} disagrees with the crate's order against U+{ref:04X}")
    # A scalar that the crate does not reorder must not look like a mark to it either.
    for cp in candidates:
        if cp not in ccc and nfd.normalize_str("x\u0345" + chr(cp)) != "x\u0345" + chr(cp):
            sys.exit(f"U+{cp:04X}: unexpected reordering")

    if oniguruma_space != whitespace:
        sys.exit("the ByteLevel regex's \\s is not Rust char::is_whitespace")

    return {
        "mark": to_ranges(mark),
        "letter": to_ranges(letter),
        "number": to_ranges(number),
        "word": to_ranges(word),
        "numeric": to_ranges(numeric),
        "drop": to_ranges(drop),
        "cleanSpace": to_ranges(clean_space),
        "whitespace": to_ranges(whitespace),
        "punctuation": to_ranges(punctuation),
        "nonspacing": to_ranges(nonspacing),
        "ccc": ccc,
        "decomposition": decomposition,
        "lowercase": lowercase,
    }


def hexs(values):
    return ", ".join(f"0x{v:X}" for v in values)


def wrap(items, indent="        ", width=100):
    lines, line = [], indent
    for item in items:
        piece = item + ", "
        if len(line) + len(piece) > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += piece
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines)


def range_table(name, doc, ranges):
    items = [f"0x{lo:X}, 0x{hi:X}" for lo, hi in ranges]
    return f"    /// {doc}\n    /// Flattened closed ranges: lower, upper, lower, upper, ... ({len(ranges)} ranges).\n    static let {name}: [UInt32] = [\n{wrap(items)}\n    ]\n"


def mapping_table(name, doc, mapping):
    keys = sorted(mapping)
    items = []
    for k in keys:
        v = mapping[k]
        items.append(f"0x{k:X}, {len(v)}, {hexs(v)}")
    return (f"    /// {doc}\n    /// Entries: scalar, n, n scalars of its image; sorted by scalar ({len(keys)} entries).\n"
            f"    static let {name}: [UInt32] = [\n{wrap(items)}\n    ]\n")


LETTER_DOC = "\\p{L} of the ByteLevel pre-tokenizer's regex (Oniguruma's Unicode data)."
NUMBER_DOC = "\\p{N} of the ByteLevel pre-tokenizer's regex (Oniguruma's Unicode data)."
WORD_DOC = "\\w of the Whitespace pre-tokenizer's regex (the Rust regex crate's Unicode data)."


def render(t):
    ccc_ranges = []  # (lo, hi, value) runs of equal class
    for cp in sorted(t["ccc"]):
        value = t["ccc"][cp]
        if ccc_ranges and ccc_ranges[-1][1] == cp - 1 and ccc_ranges[-1][2] == value:
            ccc_ranges[-1][1] = cp
        else:
            ccc_ranges.append([cp, cp, value])
    ccc_items = [f"0x{lo:X}, 0x{hi:X}, {v}" for lo, hi, v in ccc_ranges]
    chinese = [f"0x{lo:X}, 0x{hi:X}" for lo, hi in CHINESE_RANGES]
    return f"""// GENERATED by tools/reference/unicode_tables.py from tokenizers {tokenizers.__version__}: do not edit.
//
// The character classes of the Rust `tokenizers` BERT normalizer and pre-tokenizer, measured scalar
// by scalar on the reference library (see the script for how). The Swift tokenizer uses only these
// tables, never the platform's Unicode data, whose version differs between Swift releases and from
// the old tables the Rust crates carry.

enum UnicodeTables {{
{range_table("drop", "Scalars that text cleaning removes: NUL, U+FFFD, and Cc/Cf/Co except TAB, LF, CR.", t["drop"])}
{range_table("cleanSpace", "Scalars that text cleaning turns into U+0020 (Rust char::is_whitespace, TAB, LF, CR; not the removed ones).", t["cleanSpace"])}
{range_table("whitespace", "Scalars the pre-tokenizer splits on and removes (Rust char::is_whitespace).", t["whitespace"])}
{range_table("punctuation", "Scalars the pre-tokenizer isolates as one word (ASCII punctuation, or P* in the unicode_categories crate).", t["punctuation"])}
{range_table("nonspacing", "Nonspacing marks (Mn) as the unicode_categories crate has them: removed when stripping accents.", t["nonspacing"])}
    /// Canonical combining classes that the NFD of unicode-normalization-alignments orders by.
    /// Flattened runs: lower, upper, class, ... ({len(ccc_ranges)} runs).
    static let combiningClass: [UInt32] = [
{wrap(ccc_items)}
    ]

{mapping_table("decomposition", "Full canonical decomposition (NFD) of each scalar that has one, except Hangul syllables (algorithmic).", t["decomposition"])}
{mapping_table("lowercase", "Rust char::to_lowercase of each scalar whose lowercase differs (full mapping, 1 to 3 scalars).", t["lowercase"])}
{range_table("chinese", "Scalars the normalizer surrounds with spaces (is_chinese_char in tokenizers/src/normalizers/bert.rs).", [tuple(r) for r in CHINESE_RANGES])}
{range_table("mark", "Marks the StripAccents normalizer removes (is_combining_mark: Mn, Mc, Me as its crate has them).", t["mark"])}
{range_table("letter", LETTER_DOC, t["letter"])}
{range_table("number", NUMBER_DOC, t["number"])}
{range_table("word", WORD_DOC, t["word"])}
{range_table("numeric", "Rust char::is_numeric, as the Digits pre-tokenizer splits on it.", t["numeric"])}}}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file differs")
    args = parser.parse_args()
    text = render(measure())
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            sys.exit(f"{OUTPUT.relative_to(ROOT)} is out of date: run tools/reference/unicode_tables.py")
        print(f"{OUTPUT.relative_to(ROOT)} is up to date")
        return
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
