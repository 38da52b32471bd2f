#!/usr/bin/env python3
"""The forward pass of the encoder families against PyTorch eager, side by side in one run (developer tool; needs the
reference environment of tools/reference/make-venv and a release `model-bench`: swift build --package-path Benchmarks -c release).

transformers builds random-weight base models of the standard shapes (roberta-base, distilbert-base-uncased, and
bert-base as the yardstick) and saves them; every round runs ours (`model-bench --config <that folder>`: the family's
own weights and path, every layer's attentions delivered to an observer) and transformers' eager model with
`output_attentions=True` on the same batch shape, alternating; the ratio is taken per round (ours / eager, in
sequences per second), and the median and min-max of the ratios are printed. Check that the machine is quiet before
and after (the load averages are printed).

    .venv/bin/python tools/bench_families.py [--rounds 5] [--batch 32] [--seq 128] [--threads 2]
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
import transformers

ROOT = Path(__file__).resolve().parent.parent
MODEL_BENCH = ROOT / "Benchmarks" / ".build" / "release" / "model-bench"  # swift build --package-path Benchmarks -c release

SHAPES = {
    "roberta-base": lambda: transformers.RobertaModel(transformers.RobertaConfig(), add_pooling_layer=False),
    "distilbert-base": lambda: transformers.DistilBertModel(transformers.DistilBertConfig()),
    "bert-base": lambda: transformers.BertModel(transformers.BertConfig(), add_pooling_layer=False),
}


def ours(folder, args):
    command = [str(MODEL_BENCH), "--config", str(folder), "--batch", str(args.batch), "--seq", str(args.seq),
               "--threads", str(args.threads), "--iterations", "3", "--warmup", "1", "--attentions", "--json"]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)["sequences_per_second"]["median"]


def eager(model, ids, mask, repeats=3):
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask, output_attentions=True)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(input_ids=ids, attention_mask=mask, output_attentions=True)
            times.append(time.perf_counter() - start)
    return ids.shape[0] / statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", help="comma-separated shapes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load before: {os.getloadavg()}")
    shapes = [s for s in SHAPES if not args.only or s in args.only.split(",")]
    with tempfile.TemporaryDirectory() as work:
        for name in shapes:
            torch.manual_seed(0)
            model = SHAPES[name]()
            model.config._attn_implementation = "eager"
            model.eval()
            folder = Path(work) / name
            model.save_pretrained(folder)
            pad = model.config.pad_token_id or 0
            ids = torch.randint(pad + 1, model.config.vocab_size, (args.batch, args.seq))
            mask = torch.ones_like(ids)
            ratios, ours_runs, eager_runs = [], [], []
            for _ in range(args.rounds):
                a = ours(folder, args)
                b = eager(model, ids, mask)
                ours_runs.append(a)
                eager_runs.append(b)
                ratios.append(a / b)
            print(f"{name} b{args.batch} s{args.seq} with attentions, {args.threads} threads: ours "
                  f"{statistics.median(ours_runs):.2f} seq/s, eager {statistics.median(eager_runs):.2f} seq/s; "
                  f"ours / eager per round: median {statistics.median(ratios):.2f} "
                  f"[{min(ratios):.2f}-{max(ratios):.2f}] over {args.rounds} rounds")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
