#!/usr/bin/env python3
"""The paper's Table 1 on one model, `bertology finetune` beside transformers with the same recipe.

Every cell is a dev-set score after fine-tuning with the recipe of PAPER §3 as docs/FINETUNE.md states it (batch
32, lr 5e-5, 10% linear warmup then linear decay, AdamW weight decay 0.01 except biases and LayerNorm weights,
gradient clipping 1.0, 128 tokens, dropout on; 3 epochs, SST-2 1 epoch), on both sides:

  bertology     `bertology finetune --task T --init I --seed S --epochs E --out OUT/bertology/T-I-sS --resume`
                (its train.json: the dev metric of the saved, last-epoch model); `--epochs 0 --seeds ...` for the
                no-fine-tuning column (the new classifier on the encoder, scored untrained, one score per seed);
  transformers  BertForSequenceClassification (eager attention) in this process, torch.manual_seed(S) before the
                model is made (its new classifier: N(0, 0.02), bias 0), `from_pretrained` or, for `random`,
                `BertForSequenceClassification(config)` (every weight drawn by transformers' _init_weights), the
                training loop of tools/bench_finetune.py (torch.optim.AdamW, get_linear_schedule_with_warmup,
                clip_grad_norm_, a torch.randperm shuffle per epoch seeded S), then eval() and the dev set in
                batches of 32 padded to their longest.

The two sides share the recipe, not the random streams (classifier init, dropout masks and shuffles differ), so
they are compared as the paper's table is read: per cell, the mean and sample sd over seeds on each side.

Runs are queued in the order that fills the table soonest (MRPC and RTE first); each finished run is one JSON file
in OUT/runs/, so an interrupted invocation continues where it stopped (a bertology run also resumes from its own
checkpoint). `--report` prints the markdown table of what is there (docs/FINETUNE.md holds a copy).

    swift build -c release --product bertology
    .venv/bin/python tools/table1.py [--out out/table1] [--sides bertology,transformers] [--plan full|quick]
    .venv/bin/python tools/table1.py --out out/table1 --report
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
THREADS = int(os.environ.get("OMP_NUM_THREADS", "2"))

# (task, text A column, text B column, label column, labels in output order (None: regression), metrics)
# Column names; CoLA's files have no header: columns are (source, label, original label, sentence).
TASKS = {
    "MRPC": ("#1 String", "#2 String", "Quality", ["0", "1"], ["f1", "accuracy"]),
    "RTE": ("sentence1", "sentence2", "label", ["entailment", "not_entailment"], ["accuracy"]),
    "STS-B": ("sentence1", "sentence2", "score", None, ["pearson", "spearman"]),
    "CoLA": (3, None, 1, ["0", "1"], ["mcc"]),
    "SST-2": ("sentence", None, "label", ["0", "1"], ["accuracy"]),
}
EPOCHS = {"SST-2": 1}
PAPER = {  # PAPER §3 Table 1, bert-base, x100: (no fine-tuning, random init + fine-tuned, pre-trained + fine-tuned)
    "MRPC": ("0 / 31.6", "81.2 / 68.3", "87.9 / 82.3"), "RTE": ("52.7", "52.7", "64.6"),
    "STS-B": ("33.1", "2.9", "82.7"), "CoLA": ("-", "-", "-"), "SST-2": ("49.1", "80.5", "92.0"),
}
UNTRAINED_SEEDS = [42, 43, 44, 45, 46]


def plan(kind):
    """(side, task, init, seed) in the order that fills the table soonest; init 'none' = no fine-tuning."""
    runs = []
    for side in ("bertology", "transformers"):
        for task in ("MRPC", "RTE"):
            runs.append((side, task, "none", 0))
    seeds = [42] if kind == "quick" else [42, 43, 44]
    for seed in seeds:
        for task in ("MRPC", "RTE"):
            for side in ("bertology", "transformers"):
                runs.append((side, task, "pretrained", seed))
    if kind == "full":
        for task in ("STS-B", "CoLA"):
            for side in ("bertology", "transformers"):
                runs.append((side, task, "pretrained", 42))
        for task in ("MRPC", "RTE"):
            for side in ("bertology", "transformers"):
                runs.append((side, task, "random", 42))
        for side in ("bertology", "transformers"):
            runs.append((side, "SST-2", "pretrained", 42))
    return runs


def read_split(glue, task, split):
    a_name, b_name, label_name, labels, _ = TASKS[task]
    lines = (Path(glue) / task / f"{split}.tsv").read_text(encoding="utf-8-sig").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    if isinstance(a_name, int):
        a, b, label, rows = a_name, None, label_name, [line.split("\t") for line in lines]
    else:
        header = lines[0].split("\t")
        a, label = header.index(a_name), header.index(label_name)
        b = header.index(b_name) if b_name else None
        rows = [line.split("\t") for line in lines[1:]]
    texts = [(r[a], r[b] if b is not None else None) for r in rows]
    targets = [float(r[label]) for r in rows] if labels is None else [labels.index(r[label]) for r in rows]
    return texts, targets


def metrics(task, predictions, targets):
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import f1_score, matthews_corrcoef
    if TASKS[task][3] is None:
        return {"pearson": float(pearsonr(predictions, targets)[0]), "spearman": float(spearmanr(predictions, targets)[0])}
    accuracy = sum(int(p == t) for p, t in zip(predictions, targets)) / len(targets)
    result = {"accuracy": accuracy}
    if task == "MRPC":
        result["f1"] = float(f1_score(targets, predictions, pos_label=1, zero_division=0))
    if task == "CoLA":
        result = {"mcc": float(matthews_corrcoef(targets, predictions))}
    return result


def write_json(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, path)


def run_bertology(args, task, init, seed):
    out = Path(args.out) / "bertology" / (f"{task}-untrained" if init == "none" else f"{task}-{init}-s{seed}")
    command = [args.binary, "finetune", "--model", args.model, "--task", task, "--data", args.glue_dir,
               "--out", str(out)]
    if init == "none":
        command += ["--epochs", "0", "--seeds", ",".join(map(str, UNTRAINED_SEEDS)), "--force"]
    else:
        command += ["--init", init, "--seed", str(seed), "--epochs", str(EPOCHS.get(task, 3)), "--resume"]
    start = time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, OMP_NUM_THREADS=str(THREADS), BERTOLOGY_PROGRESS="off"))
    train = json.loads((out / "train.json").read_text())
    result = {"command": " ".join(command), "wall_seconds": time.time() - start}
    if init == "none":
        result["untrained"] = [{"seed": u["seed"], "dev": u["dev"]} for u in train["untrained"]]
    else:
        result["dev"] = train["dev"]
        result["epochs"] = [{"epoch": e["epoch"], "dev": e["dev"], "mean_loss": e["mean_loss"]} for e in train["epochs"]]
        timing = json.loads((out / "timing.json").read_text())
        result["examples_per_second"] = timing["examples_per_second"]
    return result


class Transformers:
    def __init__(self, args):
        import torch
        import transformers
        torch.set_num_threads(THREADS)
        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        self.torch, self.args = torch, args
        self.tokenizer = transformers.BertTokenizer.from_pretrained(args.model)

    def encode(self, texts):
        a = [t[0] for t in texts]
        b = [t[1] for t in texts] if texts[0][1] is not None else None
        return self.tokenizer(a, b, truncation="longest_first", max_length=128)

    def batch(self, encoded, rows):
        features = [{k: encoded[k][i] for k in ("input_ids", "token_type_ids", "attention_mask")} for i in rows]
        return self.tokenizer.pad(features, return_tensors="pt")

    def evaluate(self, model, task, encoded, targets):
        torch = self.torch
        model.eval()
        predictions = []
        with torch.no_grad():
            for start in range(0, len(targets), 32):
                logits = model(**self.batch(encoded, range(start, min(start + 32, len(targets))))).logits
                predictions += logits[:, 0].tolist() if TASKS[task][3] is None else logits.argmax(-1).tolist()
        model.train()
        return metrics(task, predictions, targets)

    def model(self, task, init, seed):
        from transformers import BertConfig, BertForSequenceClassification
        labels = 1 if TASKS[task][3] is None else len(TASKS[task][3])
        self.torch.manual_seed(seed)
        if init == "random":
            config = BertConfig.from_pretrained(self.args.model, num_labels=labels)
            config._attn_implementation = "eager"
            return BertForSequenceClassification(config)
        return BertForSequenceClassification.from_pretrained(self.args.model, num_labels=labels,
                                                             attn_implementation="eager")

    def run(self, task, init, seed):
        import transformers
        torch = self.torch
        dev_texts, dev_targets = read_split(self.args.glue_dir, task, "dev")
        dev = self.encode(dev_texts)
        start = time.time()
        if init == "none":
            untrained = [{"seed": s, "dev": self.evaluate(self.model(task, "pretrained", s), task, dev, dev_targets)}
                         for s in UNTRAINED_SEEDS]
            return {"untrained": untrained, "wall_seconds": time.time() - start}
        texts, targets = read_split(self.args.glue_dir, task, "train")
        encoded = self.encode(texts)
        model = self.model(task, init, seed)
        model.train()
        named = list(model.named_parameters())
        no_decay = [p for n, p in named if n.endswith("bias") or "LayerNorm" in n]
        decay = [p for n, p in named if not (n.endswith("bias") or "LayerNorm" in n)]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                      lr=5e-5, betas=(0.9, 0.999), eps=1e-8)
        epochs, n = EPOCHS.get(task, 3), len(targets)
        steps = epochs * math.ceil(n / 32)
        scheduler = transformers.get_linear_schedule_with_warmup(optimizer, math.ceil(0.1 * steps), steps)
        generator = torch.Generator().manual_seed(seed)
        dtype = torch.float32 if TASKS[task][3] is None else torch.long
        history, train_seconds = [], 0.0
        for epoch in range(epochs):
            order = torch.randperm(n, generator=generator).tolist()
            losses, epoch_start = [], time.perf_counter()
            for first in range(0, n, 32):
                rows = order[first:first + 32]
                batch = self.batch(encoded, rows)
                batch["labels"] = torch.tensor([targets[i] for i in rows], dtype=dtype)
                losses.append(train_step(model, batch, optimizer, scheduler).item())
            train_seconds += time.perf_counter() - epoch_start
            history.append({"epoch": epoch + 1, "mean_loss": statistics.fmean(losses),
                            "dev": self.evaluate(model, task, dev, dev_targets)})
            print(f"  transformers {task} {init} seed {seed} epoch {epoch + 1}: {history[-1]['dev']}", flush=True)
        return {"dev": history[-1]["dev"], "epochs": history, "examples_per_second": epochs * n / train_seconds,
                "wall_seconds": time.time() - start, "versions": {"torch": torch.__version__,
                                                                   "transformers": transformers.__version__}}


def train_step(model, batch, optimizer, scheduler):
    """One step of the recipe on transformers' side: loss, backward, clip to 1.0, AdamW, schedule. Returns the loss."""
    import torch
    loss = model(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def cell(values, metric_names, scale=100):
    """'mean ± sd' per metric joined by ' / ' (one value: just the value)."""
    parts = []
    for name in metric_names:
        xs = [v[name] * scale for v in values]
        parts.append(f"{xs[0]:.1f}" if len(xs) == 1 else f"{statistics.fmean(xs):.1f} ± {statistics.stdev(xs):.1f}")
    return " / ".join(parts) + (f" (n={len(values)})" if len(values) > 1 else "")


def report(out):
    runs = {}
    for path in sorted((Path(out) / "runs").glob("*.json")):
        side, task, init, seed = path.stem.split("_")
        runs.setdefault((side, task, init), []).append(json.loads(path.read_text()))
    lines = ["| Task | Metric | Side | No fine-tuning (untrained classifier, 5 seeds: min-max) | Random init + fine-tuned |"
             " Pre-trained + fine-tuned |", "|---|---|---|---|---|---|"]
    for task, (_, _, _, _, names) in TASKS.items():
        for side in ("bertology", "transformers", "paper (bert-base)"):
            if side.startswith("paper"):
                row = PAPER[task]
            else:
                untrained = runs.get((side, task, "none"))
                row = []
                if untrained:
                    scores = untrained[0]["untrained"]
                    row.append(" / ".join(f"{min(s['dev'][m] for s in scores) * 100:.1f}-"
                                          f"{max(s['dev'][m] for s in scores) * 100:.1f}" for m in names))
                else:
                    row.append("not run")
                for init in ("random", "pretrained"):
                    done = runs.get((side, task, init))
                    row.append(cell([r["dev"] for r in done], names) if done else "not run")
            lines.append(f"| {task} | {' / '.join(names)} | {side} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=os.environ.get("BERTOLOGY_GLUE_DIR", "../shared/data/glue"))
    parser.add_argument("--model", default="models/all-MiniLM-L6-v2")
    parser.add_argument("--binary", default=".build/release/bertology")
    parser.add_argument("--out", default="out/table1")
    parser.add_argument("--sides", default="bertology,transformers")
    parser.add_argument("--plan", choices=["full", "quick"], default="full")
    parser.add_argument("--report", action="store_true", help="print the table of the finished runs and stop")
    args = parser.parse_args()
    if args.report:
        print(report(args.out))
        return
    sides = args.sides.split(",")
    reference = Transformers(args) if "transformers" in sides else None
    queue = [run for run in plan(args.plan) if run[0] in sides]
    for index, (side, task, init, seed) in enumerate(queue):
        path = Path(args.out) / "runs" / f"{side}_{task}_{init}_{seed}.json"
        if path.exists():
            continue
        print(f"[{index + 1}/{len(queue)}] {side} {task} {init} seed {seed} (load {os.getloadavg()[0]:.2f})", flush=True)
        result = run_bertology(args, task, init, seed) if side == "bertology" else reference.run(task, init, seed)
        result.update({"side": side, "task": task, "init": init, "seed": seed, "threads": THREADS})
        write_json(path, result)
        print(f"  -> {result.get('dev', '')} in {result['wall_seconds']:.0f} s", flush=True)
    print(report(args.out))


if __name__ == "__main__":
    main()
