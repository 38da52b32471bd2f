#!/usr/bin/env python3
"""Training speed of `bertology finetune` against transformers on the same recipe, same examples and same
threads (a benchmark, not a test; the numbers belong to a quiet machine).

For each task (default MRPC and SST-2) and each of --rounds rounds, the two sides run one after the other,
their order swapped every round (so a slow drift of the machine does not favour one side):

  bertology     `.build/release/bertology finetune --task T --limit N --epochs E --batch-size 32 --max-length 128`
                as a subprocess with OMP_NUM_THREADS=2; its train examples/s is timing.json's
                `examples_per_second` (forward, backward, clipping and AdamW of every step; tokenizing, the dev
                evaluation after each epoch and the checkpoints excluded).
  transformers  in this process, torch.set_num_threads(2): BertForSequenceClassification (default attention,
                train mode so dropout is on), torch.optim.AdamW (lr 5e-5, betas 0.9/0.999, eps 1e-8, weight decay
                0.01 except biases and LayerNorm weights), get_linear_schedule_with_warmup (ceil 10% warmup),
                clip_grad_norm_ 1.0, batches of 32 in a seeded shuffle, each padded to its longest (dynamic
                padding), texts truncated longest-first to 128 tokens and tokenized once before the clock starts;
                examples/s over the same work (forward, loss, backward, clip, step, scheduler).

Both train on the same examples: the seeded --limit sample bertology draws (seed 42; the same Fisher-Yates over
splitmix64, tools/reference/analysis_reference.py's sample_indices).

Prints, per task: each round's examples/s on both sides and their ratio (bertology / transformers), the
median ratio and its min-max over the rounds, and the 1-minute load average before and after each side.

    swift build -c release --product bertology
    tools/bench_finetune.py [--rounds 3] [--tasks MRPC,SST-2] [--limit 512] [--epochs 1] [--glue-dir DIR]
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["OMP_NUM_THREADS"] = "2"
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import BertForSequenceClassification, BertTokenizer, get_linear_schedule_with_warmup  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "reference"))
from analysis_reference import sample_indices  # noqa: E402

THREADS = 2
# The tasks' columns and labels, and the TSV reader, are table1.py's (the Table 1 runner in this folder).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from table1 import TASKS, read_split, train_step  # noqa: E402


def read_train(glue, task):
    return read_split(glue, task, "train")


class TransformersRun:
    """The recipe in plain PyTorch + transformers, as a user's training loop would do it."""

    def __init__(self, model_dir, task, texts, targets, batch_size, max_length):
        self.model_dir, self.task, self.batch_size = model_dir, task, batch_size
        tokenizer = BertTokenizer.from_pretrained(model_dir)
        a = [t[0] for t in texts]
        b = [t[1] for t in texts] if texts[0][1] is not None else None
        self.encoded = tokenizer(a, b, truncation="longest_first", max_length=max_length)
        self.tokenizer = tokenizer
        self.targets = targets
        self.regression = TASKS[task][3] is None

    def run(self, epochs, seed=42):
        torch.manual_seed(seed)
        labels = 1 if self.regression else 2
        model = BertForSequenceClassification.from_pretrained(self.model_dir, num_labels=labels)
        model.train()
        no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
        decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                      lr=5e-5, betas=(0.9, 0.999), eps=1e-8)
        n = len(self.targets)
        steps = epochs * math.ceil(n / self.batch_size)
        scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(0.1 * steps), steps)
        generator = torch.Generator().manual_seed(seed)
        batches = []
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator).tolist()
            for start in range(0, n, self.batch_size):
                rows = order[start:start + self.batch_size]
                features = [{k: self.encoded[k][i] for k in ("input_ids", "token_type_ids", "attention_mask")} for i in rows]
                batch = self.tokenizer.pad(features, return_tensors="pt")
                dtype = torch.float32 if self.regression else torch.long
                batch["labels"] = torch.tensor([self.targets[i] for i in rows], dtype=dtype)
                batches.append((len(rows), batch))
        start = time.perf_counter()
        for _, batch in batches:
            train_step(model, batch, optimizer, scheduler)
        seconds = time.perf_counter() - start
        return sum(count for count, _ in batches) / seconds


def run_bertology(binary, model, glue, task, limit, epochs, batch_size, max_length):
    out = Path(tempfile.mkdtemp(prefix="bench-finetune-")) / "out"
    command = [binary, "finetune", "--model", model, "--task", task, "--data", str(glue), "--limit", str(limit),
               "--epochs", str(epochs), "--batch-size", str(batch_size), "--max-length", str(max_length),
               "--out", str(out), "--force"]
    subprocess.run(command, check=True, capture_output=True, text=True,
                   env=dict(os.environ, OMP_NUM_THREADS=str(THREADS), BERTOLOGY_PROGRESS="off"))
    timing = json.loads((out / "timing.json").read_text())
    return timing["examples_per_second"], " ".join(command)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=os.environ.get("BERTOLOGY_GLUE_DIR", "../shared/data/glue"))
    parser.add_argument("--model", default="models/all-MiniLM-L6-v2")
    parser.add_argument("--binary", default=".build/release/bertology")
    parser.add_argument("--tasks", default="MRPC,SST-2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=512, help="training examples per task (the seeded sample)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()
    if not Path(args.binary).exists():
        sys.exit(f"{args.binary} is missing: swift build -c release --product bertology")
    torch.set_num_threads(THREADS)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    for task in args.tasks.split(","):
        texts, targets = read_train(args.glue_dir, task)
        keep = sample_indices(len(texts), args.limit, 42)
        texts, targets = [texts[i] for i in keep], [targets[i] for i in keep]
        reference = TransformersRun(args.model, task, texts, targets, args.batch_size, args.max_length)
        rounds = []
        for round_index in range(args.rounds):
            sides = ["bertology", "transformers"] if round_index % 2 == 0 else ["transformers", "bertology"]
            speeds, loads = {}, {}
            for side in sides:
                before = os.getloadavg()[0]
                if side == "bertology":
                    speeds[side], command = run_bertology(args.binary, args.model, args.glue_dir, task, args.limit,
                                                          args.epochs, args.batch_size, args.max_length)
                    if round_index == 0:
                        print(f"$ OMP_NUM_THREADS=2 {command}", flush=True)
                else:
                    speeds[side] = reference.run(args.epochs)
                loads[side] = (before, os.getloadavg()[0])
            ratio = speeds["bertology"] / speeds["transformers"]
            rounds.append((speeds, loads, ratio))
            print(f"{task} round {round_index + 1} ({' then '.join(sides)}): bertology {speeds['bertology']:.1f} ex/s, "
                  f"transformers {speeds['transformers']:.1f} ex/s, ratio {ratio:.2f}x; load before/after: "
                  + ", ".join(f"{s} {a:.2f}/{b:.2f}" for s, (a, b) in loads.items()), flush=True)
        ratios = [r for _, _, r in rounds]
        print(f"\n| {task}: {len(texts)} train examples, {args.epochs} epoch(s), batch {args.batch_size}, max length "
              f"{args.max_length}, 2 threads | bertology ex/s | transformers ex/s | ratio |")
        print("|---|---|---|---|")
        for index, (speeds, _, ratio) in enumerate(rounds):
            print(f"| round {index + 1} | {speeds['bertology']:.1f} | {speeds['transformers']:.1f} | {ratio:.2f}x |")
        print(f"| median (min-max) | {statistics.median(s['bertology'] for s, _, _ in rounds):.1f} | "
              f"{statistics.median(s['transformers'] for s, _, _ in rounds):.1f} | "
              f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) |\n", flush=True)
    print(f"{os.cpu_count()} CPUs; 1-minute load averages are printed per round above.")


if __name__ == "__main__":
    main()
