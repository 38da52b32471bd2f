#!/usr/bin/env python3
"""transformers fp32 outputs for docs/PRECISION.md's accuracy tables (developer machines only; CI never runs this).

For every text (and pair) of a model-parity manifest (Tests/BertologyTests/Fixtures/reference/<name>.json, the inputs
the fp32 parity tests use), runs the checkpoint alone (batch of one, no padding) in transformers, eager attention, float32,
eval mode, and writes OUT/reference.npz: per input i, `attentions_i` (layers, heads, T, T), `hidden_i` (T, C) and, for
a sequence classifier, `logits_i`; plus OUT/inputs.json (the texts, in order). tools/precision_accuracy.py compares
`bertology inspect --precision ...` with it.

Usage (from the repository root):
    .venv/bin/python tools/reference/precision_reference.py --model models/all-MiniLM-L6-v2 --out out/ref-minilm
    .venv/bin/python tools/reference/precision_reference.py --model DIR --classifier --out out/ref-mrpc
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertForSequenceClassification, BertModel


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--classifier", action="store_true", help="the checkpoint has a sequence-classification head")
    parser.add_argument("--manifest", default="Tests/BertologyTests/Fixtures/reference/all-MiniLM-L6-v2.json")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    torch.manual_seed(0)
    cls = BertForSequenceClassification if args.classifier else BertModel
    model = cls.from_pretrained(args.model, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    manifest = json.loads(Path(args.manifest).read_text())
    inputs = []
    for case in manifest["cases"]:
        for first, second in case["texts"]:
            if [first, second] not in inputs:
                inputs.append([first, second])
    arrays = {}
    with torch.no_grad():
        for index, (first, second) in enumerate(inputs):
            encoded = tokenizer(first, second, truncation="longest_first",
                                max_length=model.config.max_position_embeddings, return_tensors="pt")
            output = model(**encoded, output_attentions=True, output_hidden_states=True)
            arrays[f"attentions_{index}"] = torch.stack(output.attentions)[:, 0].numpy()
            arrays[f"hidden_{index}"] = output.hidden_states[-1][0].numpy()
            if args.classifier:
                arrays[f"logits_{index}"] = output.logits[0].numpy()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "reference.npz", **arrays)
    (out / "inputs.json").write_text(json.dumps(inputs, ensure_ascii=False, indent=1) + "\n")
    print(f"{len(inputs)} inputs -> {out}")


if __name__ == "__main__":
    main()
