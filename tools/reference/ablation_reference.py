#!/usr/bin/env python3
"""Reference values for `bertology ablate` from Hugging Face transformers + SciPy/scikit-learn (developer machines
only; CI never runs this).

Writes Tests/BertologyTests/Fixtures/reference/ablation/<model>.<task>-<split>.json: the score of the model with
nothing switched off (the baseline) and with each chosen head, then each chosen layer, switched off alone, in both
modes, with the per-example predictions:

- the tiny fixture models on the project's GLUE-format files (Tests/BertologyTests/Fixtures/glue-format), every
  head and every layer: tiny-classifier on MNLI dev_matched (logits, argmax, accuracy), tiny-regression on STS-B
  dev (regression output, Pearson, Spearman), tiny-encoder-bf16 on STS-B dev with the cosine scorer;
- all-MiniLM-L6-v2 on GLUE STS-B dev (../shared/data/glue), cosine scorer, a seeded sample of --limit 64 pairs
  (GLUEDataset.sampleIndices: splitmix64 Fisher-Yates, seed 42, kept in file order), heads L1-H1, L2-H12, L4-H1,
  L4-H7, L6-H12 and layers L1, L6.

Each ablation is a from-scratch transformers run with the shared hook (interventions.py: eager attention, the
probabilities edited after softmax and before they multiply V; zero = HF head_mask 0, uniform = 1/L on each of the
L real keys). Encoding, batching (32 in file order), pooling, cosine and metrics are eval_reference.py's, so these
files agree with the eval fixtures where they overlap (the baseline, uniform L1).

Usage (from the repository root):
    tools/reference/make-venv    # once: the pinned Python environment in .venv/
    .venv/bin/python tools/reference/ablation_reference.py [--glue-dir DIR] [--default-model DIR] [--skip-default]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import sklearn
import torch
import transformers

import interventions
from analysis_reference import sample_indices
from eval_reference import (batches, correlations, cosines, embed, encode, forward, load, read_glue, sha256)
from interventions import intervention, plan_from_intervention
from sklearn.metrics import accuracy_score

GENERATOR = "tools/reference/ablation_reference.py"
FIXTURES = Path("Tests/BertologyTests/Fixtures")
OUT = FIXTURES / "reference" / "ablation"
GLUE_FORMAT = FIXTURES / "glue-format"
MODES = ["zero", "uniform"]


# MARK: - The ablation list (names as the paper's, 1-based; the hook takes 0-based)

def ablations(heads, layers):
    """[(name, heads, layers)] in plan order: the baseline, the heads, then the layers (0-based tuples)."""
    items = [("baseline", [], [])]
    items += [(f"L{layer + 1}-H{head + 1}", [(layer, head)], []) for layer, head in sorted(heads)]
    items += [(f"L{layer + 1}", [], [layer]) for layer in sorted(layers)]
    return items


def every_head(config):
    return [(layer, head) for layer in range(config.num_hidden_layers) for head in range(config.num_attention_heads)]


# MARK: - Scoring one ablation

def score_cosine(model, tokenizer, rows, plan):
    config = model.config
    a, _ = embed(model, tokenizer, [texts[0] for texts, _ in rows], plan, config.max_position_embeddings)
    b, _ = embed(model, tokenizer, [texts[1] for texts, _ in rows], plan, config.max_position_embeddings)
    values = cosines(a, b)
    gold = np.array([float(label) for _, label in rows])
    return {"metrics": correlations(values, gold), "predictions": values.tolist()}


def score_classifier(model, tokenizer, rows, plan, labels):
    config = model.config
    logits = []
    for chunk in batches(rows):
        batch, _ = encode(tokenizer, [tuple(texts) for texts, _ in chunk], config.max_position_embeddings)
        logits.append(forward(model, batch, plan).logits.to(torch.float32))
    logits = torch.cat(logits).numpy()
    if labels is None:
        values = logits[:, 0].astype(np.float64)
        return {"metrics": correlations(values, np.array([float(label) for _, label in rows])),
                "predictions": values.tolist()}
    # Output i is id2label[i]; the prediction is the task's label index (GLUETask order), as Bertology's journal.
    names = [config.id2label[i] for i in range(config.num_labels)]
    to_task = [labels.index(n) for n in names]
    predicted = [to_task[i] for i in logits.argmax(axis=1)]
    gold = [labels.index(label) for _, label in rows]
    return {"metrics": {"accuracy": float(accuracy_score(gold, predicted))}, "predictions": predicted,
            "logits": logits.tolist()}


def sweep(model, tokenizer, rows, items, scorer, labels=None):
    config = model.config
    cases = []
    for mode in MODES:
        for name, heads, layers in items:
            if name == "baseline" and mode != MODES[0]:
                continue  # the same run in every mode
            start = time.time()
            spec = None if name == "baseline" else intervention(mode, heads=heads, layers=layers)
            plan = plan_from_intervention(spec, config.num_hidden_layers, config.num_attention_heads)
            if scorer == "cosine":
                result = score_cosine(model, tokenizer, rows, plan)
            else:
                result = score_classifier(model, tokenizer, rows, plan, labels)
            print(f"  {mode if name != 'baseline' else '':8s}{name:10s} {result['metrics']} ({time.time() - start:.1f} s)")
            cases.append({"ablation": name, "mode": None if name == "baseline" else mode, **result})
    return cases


def write(name, document):
    OUT.mkdir(parents=True, exist_ok=True)
    document = {"generator": GENERATOR,
                "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                             "scipy": scipy.__version__, "scikit-learn": sklearn.__version__},
                **document}
    (OUT / name).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"-> {OUT / name}")


def run(model_dir, data_file, task, kind, scorer, text_columns, label_column, labels=None, heads=None, layers=None,
        limit=None, seed=42, data_name=None):
    model, tokenizer = load(model_dir, kind)
    config = model.config
    rows = read_glue(data_file, text_columns, label_column)
    population = len(rows)
    if limit is not None:
        rows = [rows[i] for i in sample_indices(len(rows), limit, seed)]
    heads = every_head(config) if heads is None else heads
    layers = list(range(config.num_hidden_layers)) if layers is None else layers
    items = ablations(heads, layers)

    def notation(values, all_values, render):
        return "all" if sorted(values) == sorted(all_values) else ",".join(render(v) for v in sorted(values))

    document = {
        "model": str(model_dir), "task": task, "split": "dev", "data": data_name or str(data_file),
        "data_sha256": sha256(data_file), "scorer": scorer,
        "limit": limit, "seed": seed if limit is not None else None, "population": population, "examples": len(rows),
        "heads": notation(heads, every_head(config), lambda h: f"L{h[0] + 1}-H{h[1] + 1}"),
        "layers": notation(layers, range(config.num_hidden_layers), lambda layer: f"L{layer + 1}"),
        "cases": sweep(model, tokenizer, rows, items, scorer, labels),
    }
    write(f"{Path(model_dir).name}.{task}-dev.json", document)


# MARK: - Main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=os.environ.get("BERTOLOGY_GLUE_DIR", "../shared/data/glue"))
    parser.add_argument("--default-model", default="models/all-MiniLM-L6-v2")
    parser.add_argument("--skip-default", action="store_true", help="only the tiny models (seconds)")
    parser.add_argument("--limit", type=int, default=64, help="STS-B dev pairs for the default model (seeded sample)")
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
    print("tiny-classifier, MNLI dev_matched (glue-format fixture), every head and layer")
    run(models / "tiny-classifier", mnli_fixture, "MNLI", "classifier", "classifier", ["sentence1", "sentence2"],
        "gold_label", labels=["contradiction", "entailment", "neutral"])
    print("tiny-regression, STS-B dev (glue-format fixture), every head and layer")
    run(models / "tiny-regression", stsb_fixture, "STS-B", "classifier", "classifier", ["sentence1", "sentence2"],
        "score")
    print("tiny-encoder-bf16, STS-B dev (glue-format fixture), cosine, every head and layer")
    run(models / "tiny-encoder-bf16", stsb_fixture, "STS-B", "encoder", "cosine", ["sentence1", "sentence2"], "score")

    if not args.skip_default:
        stsb = Path(args.glue_dir) / "STS-B" / "dev.tsv"
        print(f"{Path(args.default_model).name}, GLUE STS-B dev, --limit {args.limit} --seed 42, cosine")
        run(args.default_model, stsb, "STS-B", "encoder", "cosine", ["sentence1", "sentence2"], "score",
            heads=[(0, 0), (1, 11), (3, 0), (3, 6), (5, 11)], layers=[0, 5], limit=args.limit, seed=42,
            data_name="GLUE STS-B/dev.tsv")


if __name__ == "__main__":
    main()
