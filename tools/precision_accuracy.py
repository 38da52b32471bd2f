#!/usr/bin/env python3
"""The accuracy tables of docs/PRECISION.md: each precision against transformers fp32 and against our fp32.

Runs the release `bertology` in fp32, bf16, bf16x3 and int8 (or the --precisions given) and compares:
  1. inputs: `inspect --json` on every text of the parity manifest against transformers fp32
     (tools/reference/precision_reference.py wrote REF/reference.npz): max |diff| of the attentions and the last
     hidden state (and the logits of a classifier), one model per --ref;
  2. sts-b: `eval --task STS-B` (cosine of mean-pooled embeddings) Pearson / Spearman, change against fp32;
  3. classifier: `eval --model CLS --task MRPC` F1 / accuracy and the share of predictions equal to fp32's;
  4. sweep: `ablate --task STS-B --mode uniform --heads all --layers all` (the 72 heads and 6 layers): max |change|
     of the Pearson score against the fp32 sweep, Spearman correlation of the 78 scores with fp32's, and whether
     the five best and five worst heads to switch off are fp32's.
Every run's output is kept in --work and reused when present (delete a file to run it again). The tables go to
stdout as Markdown. Runs are long on a loaded machine: run it with `nice -n 19`.

Usage (from the repository root; numpy and scipy, e.g. the .venv of tools/reference/make-venv):
    .venv/bin/python tools/precision_accuracy.py --bin .build/release/bertology --data GLUE_DIR \
        --ref models/all-MiniLM-L6-v2=out/ref-minilm --ref CLS_DIR=out/ref-mrpc --classifier CLS_DIR \
        --work out/precision-work [--sweep-limit N] [--steps inputs,sts-b,classifier,sweep] [--precisions fp32,int8]
"""

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

PRECISIONS = ["fp32", "bf16", "bf16x3", "int8"]  # --precisions narrows it (fp32 first: the others compare to it)


def run(command, output=None):
    """Runs a bertology command; its stdout goes to `output` (kept for reuse)."""
    if output is not None and output.exists():
        return output.read_text()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"precision_accuracy: {' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    if "bertology: note:" in result.stderr:  # the precision fallback's note
        sys.exit(f"precision_accuracy: {' '.join(command)} fell back: {result.stderr.strip()}")
    if output is not None:
        output.write_text(result.stdout)
    return result.stdout


def inputs_table(args, model, ref_dir, work):
    reference = np.load(Path(ref_dir) / "reference.npz")
    inputs = json.loads((Path(ref_dir) / "inputs.json").read_text())
    rows = []
    for precision in PRECISIONS:
        worst = {"attentions": 0.0, "hidden": 0.0, "logits": 0.0}
        folder = work / f"inspect-{Path(model).name}-{precision}"
        folder.mkdir(parents=True, exist_ok=True)
        for index, (first, second) in enumerate(inputs):
            command = [args.bin, "inspect", "--model", model, "--precision", precision, "--json"]
            if second is not None:
                command += ["--pair", second]
            ours = json.loads(run(command + ["--", first], folder / f"{index}.json"))
            attentions = np.array(ours["attentions"], dtype=np.float32)
            worst["attentions"] = max(worst["attentions"], float(np.abs(attentions - reference[f"attentions_{index}"]).max()))
            hidden = np.array(ours["last_hidden_state"], dtype=np.float32)
            worst["hidden"] = max(worst["hidden"], float(np.abs(hidden - reference[f"hidden_{index}"]).max()))
            if f"logits_{index}" in reference and ours.get("logits") is not None:
                logits = np.array(ours["logits"], dtype=np.float32)
                worst["logits"] = max(worst["logits"], float(np.abs(logits - reference[f"logits_{index}"]).max()))
        rows.append((precision, worst))
    print(f"\n#### {Path(model).name}: {len(inputs)} inputs, max |diff| against transformers fp32\n")
    has_logits = any(f.startswith("logits_") for f in reference.files)
    print("| precision | attentions | last hidden state |" + (" logits |" if has_logits else ""))
    print("|---|---|---|" + ("---|" if has_logits else ""))
    for precision, worst in rows:
        print(f"| {precision} | {worst['attentions']:.2e} | {worst['hidden']:.2e} |"
              + (f" {worst['logits']:.2e} |" if has_logits else ""))


def eval_json(args, work, name, command):
    return json.loads(run([args.bin, "eval", "--json"] + command, work / f"{name}.json"))


def stsb_table(args, work):
    results = {p: eval_json(args, work, f"eval-stsb-{p}", ["--task", "STS-B", "--data", args.data, "--precision", p])
               for p in PRECISIONS}
    base = results["fp32"]["metrics"]
    print(f"\n#### STS-B dev, {results['fp32']['n']} pairs, cosine of mean-pooled embeddings\n")
    print("| precision | Pearson | Spearman | change of Pearson | change of Spearman |")
    print("|---|---|---|---|---|")
    for p in PRECISIONS:
        m = results[p]["metrics"]
        print(f"| {p} | {m['pearson']:.6f} | {m['spearman']:.6f} | {m['pearson'] - base['pearson']:+.1e} | "
              f"{m['spearman'] - base['spearman']:+.1e} |")


def classifier_table(args, work):
    predictions = {}
    results = {}
    for p in PRECISIONS:
        file = work / f"eval-mrpc-{p}.jsonl"
        results[p] = eval_json(args, work, f"eval-mrpc-{p}", ["--model", args.classifier, "--task", "MRPC", "--data",
                                                              args.data, "--precision", p, "--predictions", str(file),
                                                              "--force"])
        predictions[p] = [json.loads(line) for line in file.read_text().splitlines()]
    print(f"\n#### {Path(args.classifier).name} on MRPC dev, {results['fp32']['n']} pairs\n")
    print("| precision | F1 | accuracy | predictions equal to fp32's | max abs change of a logit vs fp32 |")
    print("|---|---|---|---|---|")
    base = predictions["fp32"]
    for p in PRECISIONS:
        m = results[p]["metrics"]
        same = sum(a["prediction"] == b["prediction"] for a, b in zip(predictions[p], base)) / len(base)
        logits = max(abs(x - y) for a, b in zip(predictions[p], base) for x, y in zip(a["logits"], b["logits"]))
        print(f"| {p} | {m['f1']:.4f} | {m['accuracy']:.4f} | {100 * same:.2f}% | {logits:.1e} |")


def sweep_scores(args, work, precision):
    folder = work / f"sweep-{precision}"
    if not (folder / "ablations.csv").exists():
        command = [args.bin, "ablate", "--task", "STS-B", "--data", args.data, "--mode", "uniform", "--heads", "all",
                   "--layers", "all", "--precision", precision, "--out", str(folder), "--force"]
        if args.sweep_limit:
            command += ["--limit", str(args.sweep_limit)]
        run(command)
    with open(folder / "ablations.csv") as f:
        rows = list(csv.DictReader(f))
    baseline = next(float(r["pearson"]) for r in rows if r["kind"] == "baseline")
    ablations = [(r["ablation"], r["kind"], float(r["pearson"])) for r in rows if r["kind"] != "baseline"]
    return baseline, ablations


def sweep_table(args, work):
    sweeps = {p: sweep_scores(args, work, p) for p in PRECISIONS}
    base_baseline, base = sweeps["fp32"]
    names = [a for a, _, _ in base]

    def heads(ablations):
        ranked = sorted([(score, name) for name, kind, score in ablations if kind == "head"])
        return [n for _, n in ranked[-5:]][::-1], [n for _, n in ranked[:5]]

    best32, worst32 = heads(base)
    sample = f"--limit {args.sweep_limit} (seeded sample)" if args.sweep_limit else "the whole dev split"
    print(f"\n#### STS-B ablation sweep (uniform, {len(names)} ablations: every head and every layer), {sample}, Pearson\n")
    print("| precision | baseline | max abs change of a score vs fp32 | Spearman of the scores with fp32's | "
          "five best heads to switch off | five worst |")
    print("|---|---|---|---|---|---|")
    for p in PRECISIONS:
        baseline, ablations = sweeps[p]
        assert [a for a, _, _ in ablations] == names
        scores = np.array([s for _, _, s in ablations])
        reference = np.array([s for _, _, s in base])
        change = max(float(np.abs(scores - reference).max()), abs(baseline - base_baseline))
        rho = spearmanr(scores, reference).statistic
        best, worst = heads(ablations)
        same_best = "same as fp32" if set(best) == set(best32) else f"{', '.join(best)} (fp32: {', '.join(best32)})"
        same_worst = "same as fp32" if set(worst) == set(worst32) else f"{', '.join(worst)} (fp32: {', '.join(worst32)})"
        if p == "fp32":
            same_best, same_worst = ", ".join(best32), ", ".join(worst32)
        print(f"| {p} | {baseline:.6f} | {change:.1e} | {rho:.6f} | {same_best} | {same_worst} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/release/bertology")
    parser.add_argument("--data", required=True)
    parser.add_argument("--ref", action="append", default=[], help="MODEL_DIR=REFERENCE_DIR")
    parser.add_argument("--classifier")
    parser.add_argument("--work", required=True)
    parser.add_argument("--sweep-limit", type=int)
    parser.add_argument("--steps", default="inputs,sts-b,classifier,sweep")
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="comma-separated, fp32 first")
    args = parser.parse_args()
    PRECISIONS[:] = args.precisions.split(",")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    steps = args.steps.split(",")
    if "inputs" in steps:
        for pair in args.ref:
            model, ref_dir = pair.split("=", 1)
            inputs_table(args, model, ref_dir, work)
    if "sts-b" in steps:
        stsb_table(args, work)
    if "classifier" in steps and args.classifier:
        classifier_table(args, work)
    if "sweep" in steps:
        sweep_table(args, work)


if __name__ == "__main__":
    main()
