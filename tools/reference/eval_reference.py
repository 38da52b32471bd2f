#!/usr/bin/env python3
"""Reference values for `bertology eval` from Hugging Face transformers + SciPy/scikit-learn (developer machines
only; CI never runs this).

Writes Tests/BertologyTests/Fixtures/eval/<model>.<task>-<split>.json:

- all-MiniLM-L6-v2 on GLUE STS-B dev (../shared/data/glue), cosine scorer: each sentence alone, mean-pooled over
  its real tokens (sentence-transformers' pooling), cosine of the two embeddings in float64, then
  scipy.stats.pearsonr / spearmanr against the gold scores; with no intervention and with
  zero L1-H1,L4-H7 / uniform L2-H12,L4-H1 / uniform L1 / uniform L6;
- the tiny fixture models on the project's GLUE-format files (Tests/BertologyTests/Fixtures/glue-format):
  tiny-classifier on MNLI dev_matched (logits, argmax, accuracy), tiny-regression on STS-B dev (regression output,
  Pearson, Spearman), tiny-encoder-bf16 on STS-B dev with the cosine scorer; with and without interventions.

Texts are encoded as a user would: `tokenizer(a, b, truncation="longest_first", max_length=max_position_embeddings)`,
batches of 32 in file order with dynamic padding, eager attention in float32, eval mode. Interventions use the
shared hook in interventions.py (after softmax, before V). GLUE files are split on TAB with no quoting, BOM dropped.

Usage (from the repository root):
    tools/reference/make-venv    # once: the pinned Python environment in .venv/
    .venv/bin/python tools/reference/eval_reference.py [--glue-dir DIR] [--default-model DIR] [--skip-default]
"""

import argparse
import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy
import scipy.stats
import sklearn
import torch
import transformers
from sklearn.metrics import accuracy_score
from transformers import BertForSequenceClassification, BertModel, BertTokenizer

import interventions
from interventions import intervention, mean_pooling, plan_from_intervention

GENERATOR = "tools/reference/eval_reference.py"
FIXTURES = Path("Tests/BertologyTests/Fixtures")
OUT = FIXTURES / "eval"
GLUE_FORMAT = FIXTURES / "glue-format"
BATCH_SIZE = 32

# Interventions are 0-based here; `spec` is the paper's 1-based notation the Swift test passes to HeadSelection.
DEFAULT_CASES = [
    ("none", None, None),
    ("zero L1-H1,L4-H7", intervention("zero", heads=[(0, 0), (3, 6)]), ("zero", "L1-H1,L4-H7")),
    ("uniform L2-H12,L4-H1", intervention("uniform", heads=[(1, 11), (3, 0)]), ("uniform", "L2-H12,L4-H1")),
    ("uniform L1", intervention("uniform", layers=[0]), ("uniform", "L1")),
    ("uniform L6", intervention("uniform", layers=[5]), ("uniform", "L6")),
]


# MARK: - GLUE files

def read_glue(path, text_columns, label_column):
    """Header files only (the fixtures and STS-B): split on TAB, no quoting, utf-8-sig drops a BOM."""
    lines = Path(path).read_text(encoding="utf-8-sig").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    header = lines[0].split("\t")
    columns = [header.index(c) for c in text_columns]
    label = header.index(label_column)
    rows = []
    for line in lines[1:]:
        fields = line.split("\t")
        assert len(fields) == len(header), line
        rows.append(([fields[c] for c in columns], fields[label]))
    return rows


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# MARK: - Running the reference

def batches(items, size=BATCH_SIZE):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def encode(tokenizer, texts, max_length):
    """texts: list of (a,) or (a, b); returns the padded batch and whether each row was truncated."""
    firsts = [t[0] for t in texts]
    seconds = [t[1] for t in texts] if len(texts[0]) == 2 else None
    kwargs = dict(truncation="longest_first", max_length=max_length, padding=True, return_tensors="pt")
    batch = tokenizer(firsts, seconds, **kwargs) if seconds else tokenizer(firsts, **kwargs)
    full = tokenizer(firsts, seconds) if seconds else tokenizer(firsts)
    truncated = [len(ids) > max_length for ids in full["input_ids"]]
    return batch, truncated


def forward(model, batch, plan):
    interventions.set_batch(plan, batch["attention_mask"])
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     token_type_ids=batch["token_type_ids"])


def embed(model, tokenizer, sentences, plan, max_length):
    """float32 (N, C) mean-pooled embeddings, file order."""
    out, truncated = [], []
    for chunk in batches(sentences):
        batch, flags = encode(tokenizer, [(s,) for s in chunk], max_length)
        output = forward(model, batch, plan)
        out.append(mean_pooling(output.last_hidden_state, batch["attention_mask"]).to(torch.float32))
        truncated += flags
    return torch.cat(out).numpy(), truncated


def cosines(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def correlations(predictions, gold):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pearson = float(scipy.stats.pearsonr(predictions, gold).statistic)
        spearman = float(scipy.stats.spearmanr(predictions, gold).statistic)
    return {"pearson": pearson, "spearman": spearman, "corr": (pearson + spearman) / 2}


def load(model_dir, kind):
    cls = BertForSequenceClassification if kind == "classifier" else BertModel
    model = cls.from_pretrained(model_dir, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    return model, BertTokenizer.from_pretrained(model_dir)


def cosine_cases(model_dir, data_file, cases):
    model, tokenizer = load(model_dir, "encoder")
    config = model.config
    rows = read_glue(data_file, ["sentence1", "sentence2"], "score")
    gold = np.array([float(label) for _, label in rows])
    results = []
    for name, spec, notation in cases:
        start = time.time()
        plan = plan_from_intervention(spec, config.num_hidden_layers, config.num_attention_heads)
        a, truncated_a = embed(model, tokenizer, [texts[0] for texts, _ in rows], plan, config.max_position_embeddings)
        b, truncated_b = embed(model, tokenizer, [texts[1] for texts, _ in rows], plan, config.max_position_embeddings)
        values = cosines(a, b)
        metrics = correlations(values, gold)
        print(f"  {name:24s} pearson {metrics['pearson']:.6f} spearman {metrics['spearman']:.6f} "
              f"({time.time() - start:.1f} s)")
        results.append({"name": name, "mode": notation and notation[0], "spec": notation and notation[1],
                        "intervention": spec, "metrics": metrics, "cosines": values.tolist(),
                        "truncated": sum(x or y for x, y in zip(truncated_a, truncated_b))})
    return results


def classifier_cases(model_dir, data_file, text_columns, label_column, labels, cases):
    """labels: the task's label list (None for regression)."""
    model, tokenizer = load(model_dir, "classifier")
    config = model.config
    rows = read_glue(data_file, text_columns, label_column)
    results = []
    for name, spec, notation in cases:
        plan = plan_from_intervention(spec, config.num_hidden_layers, config.num_attention_heads)
        logits, truncated = [], []
        for chunk in batches(rows):
            batch, flags = encode(tokenizer, [tuple(texts) for texts, _ in chunk], config.max_position_embeddings)
            logits.append(forward(model, batch, plan).logits.to(torch.float32))
            truncated += flags
        logits = torch.cat(logits).numpy()
        entry = {"name": name, "mode": notation and notation[0], "spec": notation and notation[1],
                 "intervention": spec, "logits": logits.tolist(), "truncated": truncated}
        if labels is None:
            values = logits[:, 0].astype(np.float64)
            entry["metrics"] = correlations(values, np.array([float(label) for _, label in rows]))
        else:
            # Output i is id2label[i]; map it to the task's label index by name.
            names = [config.id2label[i] for i in range(config.num_labels)]
            to_task = [labels.index(n) for n in names]
            predicted = [to_task[i] for i in logits.argmax(axis=1)]
            gold = [labels.index(label) for _, label in rows]
            entry["predicted"] = predicted
            entry["metrics"] = {"accuracy": float(accuracy_score(gold, predicted))}
        print(f"  {name:24s} {entry['metrics']}")
        results.append(entry)
    return results


def write(name, document):
    OUT.mkdir(parents=True, exist_ok=True)
    document = {"generator": GENERATOR,
                "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                             "scipy": scipy.__version__, "scikit-learn": sklearn.__version__},
                **document}
    (OUT / name).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"-> {OUT / name}")


# MARK: - Main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=os.environ.get("BERTOLOGY_GLUE_DIR", "../shared/data/glue"))
    parser.add_argument("--default-model", default="models/all-MiniLM-L6-v2")
    parser.add_argument("--skip-default", action="store_true", help="only the tiny models (seconds, not minutes)")
    args = parser.parse_args()
    if not Path("Package.swift").exists():
        sys.exit("run from the repository root")
    torch.set_num_threads(2)
    torch.manual_seed(0)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    interventions.install()
    interventions.AttentionState.record = False

    models = FIXTURES / "models"
    stsb_fixture = GLUE_FORMAT / "STS-B" / "dev.tsv"
    mnli_fixture = GLUE_FORMAT / "MNLI" / "dev_matched.tsv"
    mnli_labels = ["contradiction", "entailment", "neutral"]

    print("tiny-classifier, MNLI dev_matched (glue-format fixture)")
    write("tiny-classifier.MNLI-dev.json", {
        "model": "Tests/BertologyTests/Fixtures/models/tiny-classifier", "task": "MNLI", "split": "dev",
        "data": str(mnli_fixture), "scorer": "classifier",
        "cases": classifier_cases(models / "tiny-classifier", mnli_fixture, ["sentence1", "sentence2"], "gold_label",
                                  mnli_labels, [
            ("none", None, None),
            ("zero L1-H2,L2-H3", intervention("zero", heads=[(0, 1), (1, 2)]), ("zero", "L1-H2,L2-H3")),
            ("uniform L2", intervention("uniform", layers=[1]), ("uniform", "L2")),
        ])})
    print("tiny-regression, STS-B dev (glue-format fixture)")
    write("tiny-regression.STS-B-dev.json", {
        "model": "Tests/BertologyTests/Fixtures/models/tiny-regression", "task": "STS-B", "split": "dev",
        "data": str(stsb_fixture), "scorer": "classifier",
        "cases": classifier_cases(models / "tiny-regression", stsb_fixture, ["sentence1", "sentence2"], "score", None, [
            ("none", None, None),
            ("uniform L2-H1,L3-H5", intervention("uniform", heads=[(1, 0), (2, 4)]), ("uniform", "L2-H1,L3-H5")),
            ("zero L1", intervention("zero", layers=[0]), ("zero", "L1")),
        ])})
    print("tiny-encoder-bf16, STS-B dev (glue-format fixture), cosine")
    write("tiny-encoder-bf16.STS-B-dev.json", {
        "model": "Tests/BertologyTests/Fixtures/models/tiny-encoder-bf16", "task": "STS-B", "split": "dev",
        "data": str(stsb_fixture), "scorer": "cosine",
        "cases": cosine_cases(models / "tiny-encoder-bf16", stsb_fixture, [
            ("none", None, None),
            ("uniform L1", intervention("uniform", layers=[0]), ("uniform", "L1")),
        ])})

    if not args.skip_default:
        stsb = Path(args.glue_dir) / "STS-B" / "dev.tsv"
        name = Path(args.default_model).name
        print(f"{name}, GLUE STS-B dev, cosine")
        write(f"{name}.STS-B-dev.json", {
            "model": str(args.default_model), "task": "STS-B", "split": "dev",
            "data": "GLUE STS-B/dev.tsv", "data_sha256": sha256(stsb), "scorer": "cosine",
            "cases": cosine_cases(args.default_model, stsb, DEFAULT_CASES)})


if __name__ == "__main__":
    main()
