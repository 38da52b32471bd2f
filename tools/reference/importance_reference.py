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

Deterministic: fixed seeds, one torch thread. Usage (from the repository root):
    .venv/bin/python tools/reference/importance_reference.py
"""

import json
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


def main():
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
