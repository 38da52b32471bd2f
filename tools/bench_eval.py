#!/usr/bin/env python3
"""End-to-end timing of `bertology eval` against the same job in transformers (a benchmark, not a test).

Jobs (GLUE dev sets from ../shared/data/glue):
  STS-B dev, cosine   the default model all-MiniLM-L6-v2: embed both sentences of the 1500 pairs (3000 rows),
                      mean-pool, cosine, Pearson/Spearman.
  SST-2 dev, classifier   all-MiniLM-L6-v2's encoder with a seeded random 2-label classifier head (the default model
                      has none), saved by this script with transformers into a temporary folder: 872 sentences,
                      argmax, accuracy. The compute is MiniLM's; the accuracy is meaningless (random head).

Each measurement is end to end: read the TSV, tokenize, forward, metric, and load the model.
  bertology  `.build/release/bertology eval ... --json` as a subprocess (wall time of the process: start-up,
             model load, reading, tokenizing, batching, forward, metric), OMP_NUM_THREADS=2.
  transformers  the same steps in this Python process with torch.set_num_threads(2) (imports of torch and
             transformers are done once, before timing; from_pretrained is timed): BertTokenizer (Rust backend),
             batches in file order padded to their longest row (dynamic padding, as DataCollatorWithPadding /
             the Trainer's evaluation loop), torch.inference_mode, float32. Variants: attn_implementation sdpa
             (the default users get) at each --hf-batch-sizes (32: a common evaluation batch; 128: the fastest of
             8/32/128 measured here), eager at the largest, and sdpa with length-sorted batches (--sorted: what
             bertology's batcher does, to separate batching from kernels).
Runs alternate between implementations (run 1 of each, then run 2 of each, ...); the table gives the median and
the min-max over --runs runs.

    swift build -c release
    tools/reference/make-venv    # once: the pinned Python environment in .venv/
    .venv/bin/python tools/bench_eval.py [--runs 3] [--sorted] [--hf-batch-sizes 32,128] [--glue-dir DIR]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import BertForSequenceClassification, BertModel, BertTokenizer  # noqa: E402

THREADS = 2


# MARK: - The transformers side

def read_glue(path, text_columns, label_column):
    """Split on TAB, no quoting, BOM dropped (the GLUE README's rules)."""
    lines = Path(path).read_text(encoding="utf-8-sig").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    header = lines[0].split("\t")
    columns = [header.index(c) for c in text_columns]
    label = header.index(label_column)
    rows = [line.split("\t") for line in lines[1:]]
    return [[r[c] for c in columns] for r in rows], [r[label] for r in rows]


def batch_order(tokenizer, texts, sort):
    if not sort:
        return list(range(len(texts)))
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=512)["input_ids"]]
    return sorted(range(len(texts)), key=lambda i: -lengths[i])


def hf_embed(model, tokenizer, texts, batch_size, sort):
    order = batch_order(tokenizer, texts, sort)
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        rows = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=512, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        out[rows] = ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).numpy()
    return out


def hf_stsb(model_dir, glue, attention, batch_size, sort):
    with torch.inference_mode():
        model = BertModel.from_pretrained(model_dir, attn_implementation=attention, dtype=torch.float32).eval()
        tokenizer = BertTokenizer.from_pretrained(model_dir)
        texts, labels = read_glue(glue / "STS-B" / "dev.tsv", ["sentence1", "sentence2"], "score")
        a = hf_embed(model, tokenizer, [t[0] for t in texts], batch_size, sort).astype(np.float64)
        b = hf_embed(model, tokenizer, [t[1] for t in texts], batch_size, sort).astype(np.float64)
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        gold = np.array([float(x) for x in labels])
        return {"pearson": float(scipy.stats.pearsonr(cos, gold).statistic),
                "spearman": float(scipy.stats.spearmanr(cos, gold).statistic)}


def hf_sst2(model_dir, glue, attention, batch_size, sort):
    with torch.inference_mode():
        model = BertForSequenceClassification.from_pretrained(model_dir, attn_implementation=attention,
                                                               dtype=torch.float32).eval()
        tokenizer = BertTokenizer.from_pretrained(model_dir)
        texts, labels = read_glue(glue / "SST-2" / "dev.tsv", ["sentence"], "label")
        sentences = [t[0] for t in texts]
        order = batch_order(tokenizer, sentences, sort)
        predicted = np.zeros(len(sentences), dtype=np.int64)
        for start in range(0, len(sentences), batch_size):
            rows = order[start:start + batch_size]
            batch = tokenizer([sentences[i] for i in rows], padding=True, truncation=True, max_length=512,
                              return_tensors="pt")
            predicted[rows] = model(**batch).logits.argmax(-1).numpy()
        return {"accuracy": float((predicted == np.array([int(x) for x in labels])).mean())}


def classifier_checkpoint(model_dir, folder):
    """MiniLM's encoder and pooler with a seeded random 2-label head, saved as transformers saves it."""
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    model.save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (Path(model_dir) / name).exists():
            shutil.copy(Path(model_dir) / name, folder / name)


# MARK: - The bertology side

def bertology(binary, args):
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS))
    output = subprocess.run([str(binary), "eval", *args, "--json"], check=True, capture_output=True, text=True, env=env)
    return json.loads(output.stdout)["metrics"]


# MARK: - Main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--glue-dir", default=os.environ.get("BERTOLOGY_GLUE_DIR", "../shared/data/glue"))
    parser.add_argument("--model", default="models/all-MiniLM-L6-v2")
    parser.add_argument("--binary", default=".build/release/bertology")
    parser.add_argument("--hf-batch-sizes", default="32,128", help="transformers sdpa batch sizes to time")
    parser.add_argument("--eager", action=argparse.BooleanOptionalAction, default=True,
                        help="also time transformers eager (at the largest batch size)")
    parser.add_argument("--sorted", action="store_true", help="also time transformers sdpa with length-sorted batches")
    parser.add_argument("--jobs", default="STS-B,SST-2")
    args = parser.parse_args()
    glue, binary = Path(args.glue_dir), Path(args.binary)
    if not binary.exists():
        sys.exit(f"{binary} is missing: swift build -c release")
    torch.set_num_threads(THREADS)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    temporary = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    try:
        classifier = temporary / "minilm-sst2-random-head"
        classifier_checkpoint(args.model, classifier)
        sizes = [int(x) for x in args.hf_batch_sizes.split(",") if x]
        implementations = [(f"transformers sdpa, batch {b}", "sdpa", b, False) for b in sizes]
        if args.eager:
            implementations.append((f"transformers eager, batch {max(sizes)}", "eager", max(sizes), False))
        if args.sorted:
            implementations.append((f"transformers sdpa, batch {max(sizes)}, length-sorted", "sdpa", max(sizes), True))
        jobs = {
            "STS-B": ("STS-B dev, cosine (all-MiniLM-L6-v2)",
                      lambda: bertology(binary, ["--model", args.model, "--task", "STS-B", "--data", str(glue),
                                                 "--scorer", "cosine"]),
                      lambda attention, size, sort: hf_stsb(args.model, glue, attention, size, sort)),
            "SST-2": ("SST-2 dev, classifier (MiniLM + random head)",
                      lambda: bertology(binary, ["--model", str(classifier), "--task", "SST-2", "--data", str(glue)]),
                      lambda attention, size, sort: hf_sst2(str(classifier), glue, attention, size, sort)),
        }
        selected = [jobs[name] for name in args.jobs.split(",")]
        times = {}
        metrics = {}
        for run in range(args.runs):
            for title, ours, theirs in selected:
                candidates = [("bertology", ours)] + [(name, (lambda a=a, b=b, s=s: theirs(a, b, s)))
                                                      for name, a, b, s in implementations]
                for name, job in candidates:
                    start = time.perf_counter()
                    result = job()
                    elapsed = time.perf_counter() - start
                    times.setdefault((title, name), []).append(elapsed)
                    metrics[(title, name)] = result
                    print(f"run {run + 1} {title:46s} {name:44s} {elapsed:7.2f} s  {result}", file=sys.stderr)

        print(f"\n{args.runs} runs each, alternating; {THREADS} threads; transformers {transformers.__version__}, "
              f"torch {torch.__version__}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end\n")
        print("| job | implementation | median s | min-max s | bertology speed-up | metrics |")
        print("|---|---|---|---|---|---|")
        for title, _, _ in selected:
            ours = statistics.median(times[(title, "bertology")])
            for name in ["bertology"] + [n for n, _, _, _ in implementations]:
                values = times[(title, name)]
                median = statistics.median(values)
                shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics[(title, name)].items()))
                speedup = "" if name == "bertology" else f"{median / ours:.2f}x"
                print(f"| {title} | {name} | {median:.2f} | {min(values):.2f}-{max(values):.2f} | {speedup} | {shown} |")
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    main()
