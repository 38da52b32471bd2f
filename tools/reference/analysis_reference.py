#!/usr/bin/env python3
"""Reference values for Bertology's attention analyses (developer machines only; CI never runs this).

For the default model (models/all-MiniLM-L6-v2) on a seeded sample of GLUE dev examples, computes from
Hugging Face transformers' attentions (eager attention, eval mode, float32; each example run alone, so
there is no padding) the per-head grids of `bertology analyze`:

  special tokens  s_j = (1/L) sum_i A[i,j] over the L real query rows
                  cls = s_0; sep_paper = max_{j in SEP} s_j; sep_clark = sum_{j in SEP} s_j;
                  punctuation_paper = max_{j in PUNCT} s_j over examples with punctuation;
                  punctuation_paper_absent_as_zero (0 without punctuation, over all examples);
                  punctuation_clark = sum_{j in PUNCT} s_j over all examples;
                  cls_row_cls = A[0,0]; cls_row_sep = max_{j in SEP} A[0,j];
                  cls_row_punctuation = max_{j in PUNCT} A[0,j] over examples with punctuation
  entropy         mean over the L rows of -sum_j A[i,j] ln A[i,j] (0 ln 0 = 0), nats

averaged over examples, in float64. [SEP] is every position holding the [SEP] id; punctuation is every
token made only of Unicode punctuation characters (categories P*). The examples are those of
`bertology analyze --task T --limit 200 --seed 42`: the GLUE file split on TAB, then the seeded sample
(splitmix64 Fisher-Yates, GLUEDataset.sampleIndices), kept in file order.

It also computes the relation probe on docs/examples/relations.jsonl: each sentence's words tokenized with
`is_split_into_words=True`, and per head the max over the sentence's [from, to] pairs and over the pieces p
of `from` and q of `to` of A[p, q] (row = query), averaged over sentences.

Writes Tests/BertologyTests/Fixtures/analysis/<task>-dev-<limit>-seed<seed>.json and relations-example.json.
Usage (from the repository root):
    tools/reference/make-venv    # once: the pinned Python environment in .venv/
    .venv/bin/python tools/reference/analysis_reference.py [--glue-dir DIR] [--model DIR]
"""

import argparse
import json
import os
import unicodedata
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import BertModel, BertTokenizer

GENERATOR = "tools/reference/analysis_reference.py"
OUT = Path("Tests/BertologyTests/Fixtures/analysis")
MASK64 = (1 << 64) - 1


# MARK: - The examples, exactly as the Swift reader and sampler choose them

def read_glue(glue_dir, task):
    """(text_a, text_b) of every example of <task>/dev.tsv: lines split on TAB, no quoting, BOM dropped."""
    path = Path(glue_dir) / task / "dev.tsv"
    lines = path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    header = lines[0].split("\t")
    columns = {"SST-2": ("sentence", None), "MRPC": ("#1 String", "#2 String")}[task]
    a = header.index(columns[0])
    b = header.index(columns[1]) if columns[1] else None
    rows = [line.split("\t") for line in lines[1:]]
    return path, [(row[a], row[b] if b is not None else None) for row in rows]


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def sample_indices(count, limit, seed):
    """GLUEDataset.sampleIndices: Fisher-Yates driven by splitmix64, the first `limit` positions, sorted."""
    if limit >= count:
        return list(range(count))
    order = list(range(count))
    state = seed
    for i in range(count - 1, 0, -1):
        state, value = splitmix64(state)
        j = value % (i + 1)
        order[i], order[j] = order[j], order[i]
    return sorted(order[:limit])


# MARK: - The analyses

def is_punctuation(token):
    return len(token) > 0 and all(unicodedata.category(c).startswith("P") for c in token)


def analyse(model, tokenizer, examples):
    layers, heads = model.config.num_hidden_layers, model.config.num_attention_heads
    zeros = lambda: np.zeros((layers, heads))
    sums = {name: zeros() for name in ["cls", "sep_paper", "sep_clark", "punctuation_paper", "punctuation_clark",
                                       "cls_row_cls", "cls_row_sep", "cls_row_punctuation", "entropy"]}
    with_punctuation = 0
    uniform = 0.0
    first_tokens = []
    for text_a, text_b in examples:
        encoded = tokenizer(text_a, text_b, return_tensors="pt", truncation="longest_first",
                            max_length=model.config.max_position_embeddings)
        with torch.no_grad():
            out = model(**encoded, output_attentions=True)
        # (layers, heads, L, L) float32 -> float64 for the sums.
        A = torch.stack(out.attentions)[:, 0].numpy().astype(np.float64)
        ids = encoded["input_ids"][0].tolist()
        tokens = tokenizer.convert_ids_to_tokens(ids)
        if len(first_tokens) < 3:
            first_tokens.append(tokens)
        L = len(ids)
        sep = [j for j, i in enumerate(ids) if i == tokenizer.sep_token_id]
        punct = [j for j, t in enumerate(tokens) if is_punctuation(t)]
        s = A.mean(axis=2)  # column means over the L query rows: (layers, heads, L)
        sums["cls"] += s[:, :, 0]
        sums["sep_paper"] += s[:, :, sep].max(axis=2)
        sums["sep_clark"] += s[:, :, sep].sum(axis=2)
        sums["cls_row_cls"] += A[:, :, 0, 0]
        sums["cls_row_sep"] += A[:, :, 0, sep].max(axis=2)
        if punct:
            with_punctuation += 1
            sums["punctuation_paper"] += s[:, :, punct].max(axis=2)
            sums["punctuation_clark"] += s[:, :, punct].sum(axis=2)
            sums["cls_row_punctuation"] += A[:, :, 0, punct].max(axis=2)
        safe = np.where(A > 0, A, 1.0)
        sums["entropy"] += (-(A * np.log(safe)).sum(axis=3)).mean(axis=2)
        uniform += np.log(L)
    n = len(examples)
    grids = {
        "cls": sums["cls"] / n,
        "sep_paper": sums["sep_paper"] / n,
        "sep_clark": sums["sep_clark"] / n,
        "punctuation_paper": sums["punctuation_paper"] / max(with_punctuation, 1),
        "punctuation_paper_absent_as_zero": sums["punctuation_paper"] / n,
        "punctuation_clark": sums["punctuation_clark"] / n,
        "cls_row_cls": sums["cls_row_cls"] / n,
        "cls_row_sep": sums["cls_row_sep"] / n,
        "cls_row_punctuation": sums["cls_row_punctuation"] / max(with_punctuation, 1),
        "entropy": sums["entropy"] / n,
    }
    return grids, with_punctuation, uniform / n, first_tokens


def relation_probe(model, tokenizer, path):
    layers, heads = model.config.num_hidden_layers, model.config.num_attention_heads
    total = np.zeros((layers, heads))
    sentences = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    for sentence in sentences:
        encoded = tokenizer(sentence["words"], is_split_into_words=True, return_tensors="pt")
        word_ids = encoded.word_ids(0)
        with torch.no_grad():
            out = model(**encoded, output_attentions=True)
        A = torch.stack(out.attentions)[:, 0].numpy().astype(np.float64)
        best = np.zeros((layers, heads))
        for source, target in sentence["pairs"]:
            p = [i for i, w in enumerate(word_ids) if w == source]
            q = [i for i, w in enumerate(word_ids) if w == target]
            best = np.maximum(best, A[:, :, p][:, :, :, q].max(axis=(2, 3)))
        total += best
    return total / len(sentences), len(sentences), sum(len(s["pairs"]) for s in sentences)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_glue = os.environ.get("BERTOLOGY_GLUE_DIR") or str(Path("..") / "shared" / "data" / "glue")
    parser.add_argument("--glue-dir", default=default_glue)
    parser.add_argument("--model", default="models/all-MiniLM-L6-v2")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(1)
    tokenizer = BertTokenizer.from_pretrained(args.model)
    model = BertModel.from_pretrained(args.model, attn_implementation="eager").eval()
    OUT.mkdir(parents=True, exist_ok=True)
    for task in ["SST-2", "MRPC"]:
        path, rows = read_glue(args.glue_dir, task)
        indices = sample_indices(len(rows), args.limit, args.seed)
        examples = [rows[i] for i in indices]
        grids, with_punctuation, uniform, first_tokens = analyse(model, tokenizer, examples)
        fixture = {
            "generator": GENERATOR,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "model": Path(args.model).name,
            "task": task,
            "split": "dev",
            "limit": args.limit,
            "seed": args.seed,
            "population": len(rows),
            "indices": indices,
            "first_tokens": first_tokens,
            "examples": len(examples),
            "examples_with_punctuation": with_punctuation,
            "uniform_entropy": uniform,
            "indexing": "grids are [layer][head], 0-based",
            "grids": {name: grid.tolist() for name, grid in grids.items()},
        }
        name = OUT / f"{task}-dev-{args.limit}-seed{args.seed}.json"
        name.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {len(examples)} examples of {len(rows)} ({with_punctuation} with punctuation)")

    relations = "docs/examples/relations.jsonl"
    score, sentences, pairs = relation_probe(model, tokenizer, relations)
    fixture = {
        "generator": GENERATOR,
        "transformers": transformers.__version__,
        "model": Path(args.model).name,
        "file": relations,
        "sentences": sentences,
        "pairs": pairs,
        "indexing": "grids are [layer][head], 0-based",
        "score": score.tolist(),
    }
    name = OUT / "relations-example.json"
    name.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n")
    print(f"{name}: {sentences} sentences, {pairs} pairs")


if __name__ == "__main__":
    main()
