#!/usr/bin/env python3
"""Head-gate gradients (Michel et al. 2019's head importance) from transformers (developer machines only; CI never
runs it).

For each tiny classifier fixture (Tests/BertologyTests/Fixtures/models: tiny-classifier, tiny-regression and the
family fixtures, all `*ForSequenceClassification` checkpoints with their own heads), this loads the checkpoint in
eval mode with eager attention and puts a gate on every head: a parameter xi (layers x heads, value 1, or 0 for a
removed head) multiplying each head's columns of the attention context where they enter the output projection (a
forward pre-hook on BERT's `attention.output.dense`, DistilBERT's `attention.out_lin`, ALBERT's shared
`attention.dense`, called once per layer). transformers 5 has no head_mask, so the gate is this hook. Each example
runs alone (batch of one, no padding); its own loss with the gold target (cross-entropy, or MSE on the score for a
regression head) is back-propagated, and xi's gradient is the example's d L(x) / d xi. Written to
Tests/BertologyTests/Fixtures/importance/gate_gradients.json: per model the padded batch (ids, types, lengths), the
targets, the removed heads, and the gradients (examples x layers x heads), with all heads kept and with heads removed.

With --model, it checks a real run instead: the same per-example gradients on a GLUE dev split (MRPC or STS-B,
the `--limit`/`--seed` sample Bertology draws), averaged into I_h as `bertology importance` does, compared with that
run's importance.json (`--ours`): the largest difference relative to the largest I_h is printed (the bound is 1e-4).

Deterministic: fixed seeds, one torch thread. Usage (from the repository root):
    .venv/bin/python tools/reference/importance_reference.py
    .venv/bin/python tools/reference/importance_reference.py --model out/main/finetune-mrpc --task MRPC \
        --glue ../shared/data/glue --limit 200 --seed 42 --ours out/main/importance/importance.json
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import AutoModelForSequenceClassification

GENERATOR = "tools/reference/importance_reference.py"
FIXTURES = Path("Tests/BertologyTests/Fixtures")
OUT = FIXTURES / "importance" / "gate_gradients.json"

# fixture -> (pad id, cls id, sep id, whether pairs get type ids 1, whether a pair has </s></s>)
MODELS = {
    "tiny-classifier": (0, 2, 3, True, False),
    "tiny-regression": (0, 2, 3, True, False),
    "tiny-roberta": (1, 0, 2, False, True),
    "tiny-xlm-roberta": (1, 0, 2, False, True),
    "tiny-distilbert": (0, 2, 3, False, False),
    "tiny-electra": (0, 2, 3, True, False),
    "tiny-albert": (0, 2, 3, True, False),
}


def examples(rng, vocab, pad, cls, sep, pair_types, double_sep):
    rows, types = [], []
    for n, m in [(6, 4), (3, 2), (9, 5), (2, 1), (12, 7), (4, 4)]:
        a = [cls] + [int(x) for x in rng.integers(5, vocab, size=n)] + [sep]
        b = ([sep] if double_sep else []) + [int(x) for x in rng.integers(5, vocab, size=m)] + [sep]
        rows.append(a + b)
        types.append([0] * len(a) + [1 if pair_types else 0] * len(b))
    return rows, types


def output_projections(model):
    """Per layer, the module whose input is the concatenated heads' context (ALBERT: one shared module)."""
    kind = model.config.model_type
    if kind == "distilbert":
        return [layer.attention.out_lin for layer in model.distilbert.transformer.layer]
    if kind == "albert":
        shared = model.albert.encoder.albert_layer_groups[0].albert_layers[0].attention.dense
        return [shared] * model.config.num_hidden_layers
    base = getattr(model, model.base_model_prefix)
    return [layer.attention.output.dense for layer in base.encoder.layer]


def gate_gradients(model, ids, types, target, removed, use_types):
    config = model.config
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    gates = torch.ones(layers, heads)
    for layer, head in removed:
        gates[layer, head] = 0
    gates.requires_grad_(True)
    calls = {"n": 0}

    def hook(module, args):
        layer = calls["n"] % layers
        calls["n"] += 1
        (x,) = args
        shape = x.shape
        gated = (x.view(shape[0], shape[1], heads, -1) * gates[layer].view(1, 1, heads, 1)).view(shape)
        return (gated,)

    handles = [m.register_forward_pre_hook(hook) for m in dict.fromkeys(output_projections(model))]
    try:
        kwargs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
        if use_types:
            kwargs["token_type_ids"] = torch.tensor([types])
        logits = model(**kwargs).logits
        if config.num_labels == 1:
            loss = torch.nn.functional.mse_loss(logits.view(-1), torch.tensor([float(target)]))
        else:
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor([int(target)]))
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    assert calls["n"] == layers, (calls["n"], layers)
    return gates.grad.numpy().astype(np.float64), float(loss)


def dev_examples(glue, task):
    """(text_a, text_b, label) of <task>/dev.tsv as Bertology reads it: TAB-split lines, no quoting, BOM dropped."""
    path = Path(glue) / task / "dev.tsv"
    lines = path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    header = lines[0].split("\t")
    a, b, label = {"MRPC": ("#1 String", "#2 String", "Quality"),
                   "STS-B": ("sentence1", "sentence2", "score")}[task]
    ia, ib, il = header.index(a), header.index(b), header.index(label)
    return [(row[ia], row[ib], row[il]) for row in (line.split("\t") for line in lines[1:])]


def check_run(args):
    sys.path.insert(0, str(Path(__file__).parent))
    from analysis_reference import sample_indices
    from transformers import AutoTokenizer
    torch.set_num_threads(2)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, attn_implementation="eager",
                                                               dtype=torch.float32)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    examples = dev_examples(args.glue, args.task)
    chosen = sample_indices(len(examples), args.limit, args.seed) if args.limit else list(range(len(examples)))
    config = model.config
    use_types = config.model_type not in ("distilbert", "roberta", "xlm-roberta")
    if config.num_labels > 1:
        names = [config.id2label[i] for i in range(config.num_labels)]
        assert names == ["not_equivalent", "equivalent"], names
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    total = np.zeros((layers, heads))
    for count, index in enumerate(chosen):
        a, b, label = examples[index]
        encoded = tokenizer(a, b, truncation="longest_first", max_length=config.max_position_embeddings)
        target = float(label) if config.num_labels == 1 else int(label)
        g, _ = gate_gradients(model, encoded["input_ids"], encoded.get("token_type_ids", [0] * len(encoded["input_ids"])),
                              target, [], use_types)
        total += np.abs(g)
        if (count + 1) % 100 == 0:
            print(f"{count + 1} of {len(chosen)}", file=sys.stderr)
    reference = total / len(chosen)
    ours = np.array(json.loads(Path(args.ours).read_text())["importance"]["head_importance"])
    worst = np.abs(ours - reference).max()
    scale = np.abs(reference).max()
    print(f"{args.model} on {args.task} dev ({len(chosen)} examples): largest |ours - transformers| = {worst:.3g}, "
          f"largest I_h = {scale:.4g}, relative {worst / scale:.3g} (bound 1e-4)")
    return 0 if worst <= 1e-4 * scale else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--task", choices=["MRPC", "STS-B"], default="MRPC")
    parser.add_argument("--glue", default="../shared/data/glue")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ours")
    args = parser.parse_args()
    if args.model:
        sys.exit(check_run(args))
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    result = {"generator": GENERATOR,
              "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
              "models": {}}
    for index, (name, (pad, cls, sep, pair_types, double_sep)) in enumerate(MODELS.items()):
        folder = FIXTURES / "models" / name
        model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
        model.eval()
        config = model.config
        rng = np.random.default_rng(7100 + index)
        rows, types = examples(rng, config.vocab_size, pad, cls, sep, pair_types, double_sep)
        if config.num_labels == 1:
            targets = [float(np.float32(x)) for x in rng.uniform(0, 5, size=len(rows))]
        else:
            targets = [int(x) for x in rng.integers(0, config.num_labels, size=len(rows))]
        removed = [[0, 1], [config.num_hidden_layers - 1, 0]]
        use_types = config.model_type not in ("distilbert", "roberta", "xlm-roberta")
        entry = {"model_dir": str(folder), "num_labels": config.num_labels,
                 "layers": config.num_hidden_layers, "heads": config.num_attention_heads,
                 "input_ids": rows, "token_type_ids": types, "pad_id": pad, "targets": targets,
                 "removed": removed}
        for key, gone in [("kept", []), ("pruned", removed)]:
            grads, losses = [], []
            for ids, tt, target in zip(rows, types, targets):
                g, loss = gate_gradients(model, ids, tt, target, gone, use_types)
                grads.append(g.tolist())
                losses.append(loss)
            entry[key] = {"gradients": grads, "losses": losses}
        result["models"][name] = entry
        print(name, "importance (kept):", np.abs(np.array(entry["kept"]["gradients"])).mean(0).round(5).tolist())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
