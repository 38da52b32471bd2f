#!/usr/bin/env python3
"""Dev predictions of a `bertology finetune` output folder, made by transformers (developer machines only).

Loads the folder with transformers' BertForSequenceClassification and BertTokenizer (the files
`bertology finetune` wrote: config.json, model.safetensors, vocab.txt, tokenizer_config.json), runs the
task's dev split (eager attention, float32, eval mode, batches of 32 with dynamic padding, pairs truncated
longest-first to --max-length, default the model's max_position_embeddings as `bertology eval` does) and
writes one JSON line per example in the layout of `bertology eval --predictions` (index, line, label,
prediction, logits). With --compare FILE (what `bertology eval --predictions FILE` wrote), prints how many
predictions agree and the largest logit difference, and exits 1 when a prediction differs.

    python tools/reference/finetuned_predictions.py out/mrpc --task MRPC --data ../shared/data/glue \
        --out out/mrpc/dev-transformers.jsonl --compare out/mrpc/dev-bertology.jsonl
"""
import argparse
import json
import os
import sys

import torch
from transformers import BertForSequenceClassification, BertTokenizer

# Columns of each task's dev file: (text A, text B or None, label); names are header columns, numbers positions.
LAYOUTS = {
    "CoLA": (3, None, 1, False),
    "SST-2": ("sentence", None, "label", True),
    "MRPC": ("#1 String", "#2 String", "Quality", True),
    "STS-B": ("sentence1", "sentence2", "score", True),
    "RTE": ("sentence1", "sentence2", "label", True),
    "QNLI": ("question", "sentence", "label", True),
    "WNLI": ("sentence1", "sentence2", "label", True),
    "QQP": ("question1", "question2", "is_duplicate", True),
}
# The names `bertology finetune` writes in id2label for tasks whose file labels are digits.
SYNONYMS = {
    "CoLA": ["unacceptable", "acceptable"], "SST-2": ["negative", "positive"],
    "MRPC": ["not_equivalent", "equivalent"], "QQP": ["not_duplicate", "duplicate"],
    "WNLI": ["not_entailment", "entailment"],
}


def read_dev(folder, task):
    a_col, b_col, label_col, header = LAYOUTS[task]
    with open(os.path.join(folder, task, "dev.tsv"), encoding="utf-8-sig", newline="") as f:
        lines = [line.rstrip("\r\n") for line in f.read().split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    first = 0
    if header:
        names = lines[0].split("\t")
        a_col, label_col = names.index(a_col), names.index(label_col)
        b_col = names.index(b_col) if b_col else None
        first = 1
    examples = []
    for number, line in enumerate(lines[first:], start=first + 1):
        fields = line.split("\t")
        examples.append({"line": number, "a": fields[a_col], "b": fields[b_col] if b_col is not None else None,
                         "label": fields[label_col]})
    return examples


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--task", required=True, choices=sorted(LAYOUTS))
    parser.add_argument("--data", required=True, help="the glue_data folder")
    parser.add_argument("--out", required=True, help="the JSON Lines file to write")
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--compare", help="bertology eval --predictions output to compare with")
    args = parser.parse_args()

    torch.set_num_threads(2)
    tokenizer = BertTokenizer.from_pretrained(args.model)
    model = BertForSequenceClassification.from_pretrained(args.model, attn_implementation="eager").eval()
    config = model.config
    max_length = args.max_length or config.max_position_embeddings
    regression = config.problem_type == "regression" or config.num_labels == 1
    task_labels = ["0", "1"] if args.task in SYNONYMS else None
    if args.task in ("RTE", "QNLI"):
        task_labels = ["entailment", "not_entailment"]
    names = [config.id2label[i] for i in range(config.num_labels)]

    def to_task_label(name):
        if args.task in SYNONYMS and name in SYNONYMS[args.task]:
            return task_labels[SYNONYMS[args.task].index(name)]
        return name

    examples = read_dev(args.data, args.task)
    lines = []
    with torch.no_grad():
        for start in range(0, len(examples), 32):
            batch = examples[start:start + 32]
            texts = [e["a"] for e in batch]
            pairs = [e["b"] for e in batch] if batch[0]["b"] is not None else None
            encoded = tokenizer(texts, pairs, truncation="longest_first", max_length=max_length,
                                padding=True, return_tensors="pt")
            logits = model(**encoded).logits.float()
            for offset, example in enumerate(batch):
                row = logits[offset].tolist()
                if regression:
                    prediction, label = row[0], float(example["label"])
                    out_logits = None
                else:
                    prediction = to_task_label(names[max(range(len(row)), key=lambda i: (row[i], -i))])
                    label, out_logits = example["label"], row
                entry = {"index": start + offset, "line": example["line"], "label": label, "prediction": prediction}
                if out_logits is not None:
                    entry["logits"] = out_logits
                lines.append(entry)
    with open(args.out, "w") as f:
        for entry in lines:
            f.write(json.dumps(entry) + "\n")
    import transformers
    print(f"{args.out}: {len(lines)} {args.task} dev predictions from transformers {transformers.__version__} "
          f"(labels {names}, problem_type {config.problem_type})")

    if args.compare:
        with open(args.compare) as f:
            ours = [json.loads(line) for line in f if line.strip()]
        if len(ours) != len(lines):
            print(f"different counts: {len(ours)} in {args.compare}, {len(lines)} here")
            sys.exit(1)
        same = sum(1 for a, b in zip(ours, lines) if (a["prediction"] == b["prediction"] if not regression
                                                       else abs(a["prediction"] - b["prediction"]) <= 1e-4 * max(1, abs(b["prediction"]))))
        if regression:
            worst = max(abs(a["prediction"] - b["prediction"]) for a, b in zip(ours, lines))
        else:
            worst = max(abs(x - y) for a, b in zip(ours, lines) for x, y in zip(a["logits"], b["logits"]))
        print(f"same predictions: {same} of {len(lines)}; largest {'output' if regression else 'logit'} difference {worst:.3g}")
        sys.exit(0 if same == len(lines) else 1)


if __name__ == "__main__":
    main()
