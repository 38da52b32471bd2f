#!/usr/bin/env python3
"""Wall time of a full ablation sweep, `bertology ablate` against a transformers loop doing the same ablations
(a benchmark, not a test).

The job: all-MiniLM-L6-v2 on GLUE STS-B dev (1500 pairs, 3000 sentences), cosine scorer, uniform mode; the
baseline, each of the 72 heads alone and each of the 6 layers: 79 evaluations.

  bertology     `.build/release/bertology ablate --mode uniform --heads all --layers all` as a subprocess, wall
                time of the process (start-up, model load and hashing, reading, tokenizing, batching, every
                ablation with prefix reuse, metrics, every report file), OMP_NUM_THREADS=2.
  transformers  in this process, torch.set_num_threads(2), eager attention with the hook of
                tools/reference/interventions.py (the probabilities edited after softmax, before V: what a
                user's loop must do, as transformers 5 has no head_mask); the model is loaded and every sentence
                tokenized once, outside the loop; batches of --batch-size (128) length-sorted (bertology's
                batcher does the same; in file order transformers is slower); torch.inference_mode; then per
                ablation: embed the 3000 sentences, mean-pool, cosine, Pearson/Spearman.

A transformers evaluation costs the same whichever head it switches off (a full forward pass of every sentence),
so `--torch-ablations N` times N of the 79, spread over the plan (the baseline, heads of every layer, layers),
and extrapolates (mean time x 79); the table says so. `--torch-ablations all` runs every one.
Both sides run in the same invocation, one after the other (bertology first); the scores of every ablation both
ran must agree within 1e-4 (Pearson and Spearman; the bound of docs/EVAL.md's parity test).

    swift build -c release
    tools/reference/make-venv    # once: the pinned Python environment in .venv/
    OMP_NUM_THREADS=2 .venv/bin/python tools/bench_ablation.py [--torch-ablations all|N] [--limit N]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["OMP_NUM_THREADS"] = "2"
import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import BertModel, BertTokenizer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "reference"))
import interventions  # noqa: E402
from analysis_reference import sample_indices  # noqa: E402
from interventions import intervention, mean_pooling, plan_from_intervention  # noqa: E402

THREADS = 2
TOLERANCE = 1e-4


def read_stsb(path):
    lines = Path(path).read_text(encoding="utf-8-sig").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    header = lines[0].split("\t")
    a, b, s = header.index("sentence1"), header.index("sentence2"), header.index("score")
    rows = [line.split("\t") for line in lines[1:]]
    return [(r[a], r[b]) for r in rows], np.array([float(r[s]) for r in rows])


def plan_names(layers, heads):
    return (["baseline"] + [f"L{layer + 1}-H{head + 1}" for layer in range(layers) for head in range(heads)]
            + [f"L{layer + 1}" for layer in range(layers)])


def spread(names, count):
    """`count` names spread evenly over the plan, the baseline and the last layer included."""
    if count >= len(names):
        return list(names)
    picks = sorted({round(i * (len(names) - 1) / (count - 1)) for i in range(count)})
    return [names[i] for i in picks]


def to_intervention(name):
    if name == "baseline":
        return None
    parts = name[1:].split("-H")
    if len(parts) == 2:
        return intervention("uniform", heads=[(int(parts[0]) - 1, int(parts[1]) - 1)])
    return intervention("uniform", layers=[int(parts[0]) - 1])


# MARK: - The transformers loop

class TransformersLoop:
    def __init__(self, model_dir, pairs, batch_size):
        self.model = BertModel.from_pretrained(model_dir, attn_implementation="eager", dtype=torch.float32).eval()
        tokenizer = BertTokenizer.from_pretrained(model_dir)
        sentences = [p[0] for p in pairs] + [p[1] for p in pairs]
        ids = tokenizer(sentences, truncation=True, max_length=512)
        order = sorted(range(len(sentences)), key=lambda i: -len(ids["input_ids"][i]))
        self.count = len(sentences)
        self.batches = []
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            features = [{k: ids[k][i] for k in ("input_ids", "token_type_ids", "attention_mask")} for i in rows]
            self.batches.append((rows, tokenizer.pad(features, return_tensors="pt")))

    def score(self, name, gold):
        config = self.model.config
        plan = plan_from_intervention(to_intervention(name), config.num_hidden_layers, config.num_attention_heads)
        out = np.zeros((self.count, config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for rows, batch in self.batches:
                interventions.set_batch(plan, batch["attention_mask"])
                hidden = self.model(**batch).last_hidden_state
                out[rows] = mean_pooling(hidden, batch["attention_mask"]).numpy()
        half = self.count // 2
        a, b = out[:half].astype(np.float64), out[half:].astype(np.float64)
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        return {"pearson": float(scipy.stats.pearsonr(cos, gold).statistic),
                "spearman": float(scipy.stats.spearmanr(cos, gold).statistic)}


# MARK: - Main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=os.environ.get("BERTOLOGY_GLUE_DIR", "../shared/data/glue"))
    parser.add_argument("--model", default="models/all-MiniLM-L6-v2")
    parser.add_argument("--binary", default=".build/release/bertology")
    parser.add_argument("--torch-ablations", default="all", help="all, or how many of the 79 to time and extrapolate")
    parser.add_argument("--limit", type=int, help="a seeded sample of N pairs (quick trials; the benchmark is all 1500)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", help="bertology's output folder (default: a temporary one)")
    args = parser.parse_args()
    if not Path(args.binary).exists():
        sys.exit(f"{args.binary} is missing: swift build -c release")
    torch.set_num_threads(THREADS)
    transformers.logging.set_verbosity_error()
    interventions.install()
    interventions.AttentionState.record = False

    glue = Path(args.glue_dir)
    pairs, gold = read_stsb(glue / "STS-B" / "dev.tsv")
    if args.limit:
        keep = sample_indices(len(pairs), args.limit, 42)
        pairs, gold = [pairs[i] for i in keep], gold[keep]

    # bertology
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-ablation-")) / "out"
    command = [args.binary, "ablate", "--model", args.model, "--task", "STS-B", "--data", str(glue), "--mode", "uniform",
               "--heads", "all", "--layers", "all", "--out", str(out), "--force", "--json"]
    if args.limit:
        command += ["--limit", str(args.limit), "--seed", "42"]
    print("$ OMP_NUM_THREADS=2 " + " ".join(command), flush=True)
    # The machine may be shared: the 1-minute load average before and after each side goes in the table.
    loads = {"bertology": [os.getloadavg()[0]]}
    start = time.time()
    result = subprocess.run(command, check=True, capture_output=True, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS=str(THREADS)))
    ours_seconds = time.time() - start
    loads["bertology"].append(os.getloadavg()[0])
    loads["transformers"] = [os.getloadavg()[0]]
    ours = {entry["name"]: entry["metrics"] for entry in json.loads(result.stdout)["ablations"]}
    print(f"bertology ablate: {ours_seconds:.1f} s for {len(ours)} evaluations", flush=True)

    # transformers
    start = time.time()
    loop = TransformersLoop(args.model, pairs, args.batch_size)
    setup_seconds = time.time() - start
    config = loop.model.config
    names = plan_names(config.num_hidden_layers, config.num_attention_heads)
    assert set(names) == set(ours), "bertology ran another plan"
    chosen = names if args.torch_ablations == "all" else spread(names, int(args.torch_ablations))
    times, worst = [], 0.0
    for name in chosen:
        start = time.time()
        metrics = loop.score(name, gold)
        times.append(time.time() - start)
        difference = max(abs(metrics[m] - ours[name][m]) for m in ("pearson", "spearman"))
        worst = max(worst, difference)
        print(f"  transformers {name:9s} pearson {metrics['pearson']:.6f} (bertology {ours[name]['pearson']:.6f}, "
              f"diff {difference:.1e}) {times[-1]:.1f} s", flush=True)
    loads["transformers"].append(os.getloadavg()[0])
    measured = setup_seconds + sum(times)
    full = setup_seconds + sum(times) / len(times) * len(names)
    extrapolated = len(chosen) < len(names)

    examples = len(pairs)
    print()
    print(f"| job: all-MiniLM-L6-v2, STS-B dev ({examples} pairs), uniform, {len(names)} evaluations, 2 threads | wall s |")
    print("|---|---|")
    print(f"| bertology ablate (prefix reuse, whole process) | {ours_seconds:.1f} |")
    label = (f"transformers eager + hook, batch {args.batch_size} length-sorted: {len(chosen)} of {len(names)} timed "
             f"({measured:.1f} s incl. {setup_seconds:.1f} s load+tokenize), extrapolated" if extrapolated else
             f"transformers eager + hook, batch {args.batch_size} length-sorted (incl. {setup_seconds:.1f} s load+tokenize)")
    print(f"| {label} | {full:.1f} |")
    print(f"| speed-up | {full / ours_seconds:.2f}x |")
    print("\n1-minute load average before/after: " + ", ".join(f"{side} {a:.2f}/{b:.2f}" for side, (a, b) in loads.items())
          + f" ({os.cpu_count()} CPUs)")
    print(f"\nscores: largest |Pearson or Spearman difference| over the {len(chosen)} ablations both ran: {worst:.2e} "
          f"({'OK' if worst <= TOLERANCE else 'ABOVE'} the {TOLERANCE:g} bound)")
    if worst > TOLERANCE:
        sys.exit(1)


if __name__ == "__main__":
    main()
