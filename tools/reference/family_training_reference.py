#!/usr/bin/env python3
"""Gradient references for fine-tuning the encoder families beside BERT (developer machines only; CI never runs it).

For each family fixture of make_family_fixtures.py (Tests/BertologyTests/Fixtures/models/tiny-<family>: random-weight
`*ForSequenceClassification` checkpoints saved by transformers), this loads the checkpoint in train() mode with every
dropout probability 0 and eager attention, gives it a new classifier (seeded values the manifest stores, which the
Swift test sets, as fine-tuning starts a new one), runs one padded batch of pairs with labels, and writes the
cross-entropy loss and EVERY parameter's gradient (torch autograd, float32) into
Tests/BertologyTests/Fixtures/training/<name>.json and <name>/gradients.npy, in the format of finetune_reference.py
(parameters in named_parameters() order with their offsets into the flat array). ALBERT's shared layer gets the sum
of every layer's gradient, as autograd gives it.

Deterministic: fixed seeds, one torch thread. Usage (from the repository root):
    .venv/bin/python tools/reference/family_training_reference.py
"""

import json
import shutil
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoModelForSequenceClassification

GENERATOR = "tools/reference/family_training_reference.py"
FIXTURES = Path("Tests/BertologyTests/Fixtures")
OUT = FIXTURES / "training"

# family fixture -> (pad id, cls id, sep id, whether pairs get type ids 1, whether a pair has </s></s>, classifier names)
FAMILIES = {
    "tiny-roberta": (1, 0, 2, False, True, ["classifier.out_proj.weight", "classifier.out_proj.bias"]),
    "tiny-xlm-roberta": (1, 0, 2, False, True, ["classifier.out_proj.weight", "classifier.out_proj.bias"]),
    "tiny-distilbert": (0, 2, 3, False, False, ["classifier.weight", "classifier.bias"]),
    "tiny-electra": (0, 2, 3, True, False, ["classifier.out_proj.weight", "classifier.out_proj.bias"]),
    "tiny-albert": (0, 2, 3, True, False, ["classifier.weight", "classifier.bias"]),
}
DROPOUT_KEYS = ["hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout", "classifier_dropout_prob",
                "dropout", "attention_dropout", "seq_classif_dropout"]


def batch(rng, vocab, pad, cls, sep, pair_types, double_sep):
    rows, types = [], []
    for n, m in [(6, 4), (3, 2), (9, 5), (2, 1)]:
        a = [cls] + [int(x) for x in rng.integers(5, vocab, size=n)] + [sep]
        b = ([sep] if double_sep else []) + [int(x) for x in rng.integers(5, vocab, size=m)] + [sep]
        rows.append(a + b)
        types.append([0] * len(a) + [1 if pair_types else 0] * len(b))
    t = max(len(r) for r in rows)
    lengths = [len(r) for r in rows]
    ids = [r + [pad] * (t - len(r)) for r in rows]
    types = [tt + [0] * (t - len(tt)) for tt in types]
    return ids, types, lengths


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name, (pad, cls, sep, pair_types, double_sep, classifier_names) in FAMILIES.items():
        folder = FIXTURES / "models" / name
        config = AutoConfig.from_pretrained(folder)
        for key in DROPOUT_KEYS:
            if hasattr(config, key):
                setattr(config, key, 0.0)
        model = AutoModelForSequenceClassification.from_pretrained(folder, config=config, attn_implementation="eager")
        model.train()
        generator = torch.Generator().manual_seed(7)
        classifier = {}
        with torch.no_grad():
            for parameter_name, parameter in model.named_parameters():
                if parameter_name in classifier_names:
                    parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
                    classifier[parameter_name] = parameter.detach().flatten().tolist()
        rng = np.random.default_rng(11)
        ids, types, lengths = batch(rng, config.vocab_size, pad, cls, sep, pair_types, double_sep)
        labels = [0, 2, 1, 2]
        mask = torch.tensor([[1] * n + [0] * (len(ids[0]) - n) for n in lengths])
        kwargs = dict(input_ids=torch.tensor(ids), attention_mask=mask, labels=torch.tensor(labels))
        if pair_types:
            kwargs["token_type_ids"] = torch.tensor(types)
        model.zero_grad()
        out = model(**kwargs)
        out.loss.backward()
        parameters, flat, offset = [], [], 0
        for parameter_name, parameter in model.named_parameters():
            grad = parameter.grad if parameter.grad is not None else torch.zeros_like(parameter)
            parameters.append(dict(name=parameter_name, shape=list(parameter.shape), offset=offset))
            flat.append(grad.detach().flatten().numpy().astype(np.float32))
            offset += parameter.numel()
        out_dir = OUT / name
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True)
        np.save(out_dir / "gradients.npy", np.concatenate(flat))
        manifest = dict(model=name, generator=GENERATOR, model_type=config.model_type,
                        versions=dict(transformers=transformers.__version__, torch=torch.__version__),
                        input_ids=ids, token_type_ids=types, lengths=lengths, targets=labels,
                        loss=float(out.loss), classifier=classifier, parameters=parameters,
                        gradients="gradients.npy")
        (OUT / f"{name}.json").write_text(json.dumps(manifest, indent=1) + "\n")
        print(f"{name}: loss {float(out.loss):.6f}, {len(parameters)} parameters")


if __name__ == "__main__":
    main()
