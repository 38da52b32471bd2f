#!/usr/bin/env python3
"""Reference fixtures for the fine-tuning engine's tests (developer machines only; CI never runs this).

Writes Tests/BertologyTests/Fixtures/training/<model>.json and <model>/*.npy for the tiny fixture models
tiny-classifier (3 labels, cross-entropy) and tiny-regression (1 label, mean squared error):

- the loss and EVERY parameter's gradient of transformers' BertForSequenceClassification (eager attention,
  train() mode, float32) on one padded batch of sentence pairs of different lengths, with dropout off
  (every dropout probability 0);
- the same with dropout on (hidden 0.1, attention probabilities 0.1, classifier 0.1), where PyTorch is given
  OUR dropout masks: the counter-based hash of CKernels/dropout.c (dropout_reference.py, in Python integers)
  replaces every nn.Dropout and the attention-probability dropout inside eager attention;
- two torch.optim.AdamW steps (betas 0.9/0.999, eps 1e-8, weight decay 0.01 on the decay group only, foreach
  off) each after torch.nn.utils.clip_grad_norm_(1.0), dropout off, on the same batch: the loss, gradient norm and
  gradients (before clipping) of each step and every weight after the second.

The classifier is new (as in fine-tuning): seeded values that the manifest stores, which the Swift test sets
with SequenceClassifierTrainer.setParameter. Arrays are flat float32 .npy files, every parameter in
named_parameters() order, concatenated; the manifest lists the names, shapes and offsets.

Deterministic: fixed seeds, one torch thread. Usage (from the repository root):
    /path/to/venv/bin/python tools/reference/finetune_reference.py
"""

import json
from pathlib import Path

import numpy as np
import torch
import transformers
import transformers.models.bert.modeling_bert as modeling_bert
from transformers import BertForSequenceClassification

# The CKernels dropout generator in Python integers (this folder is on sys.path when a script here runs).
import dropout_reference

GENERATOR = "tools/reference/finetune_reference.py"
FIXTURES = Path("Tests/BertologyTests/Fixtures")
OUT = FIXTURES / "training"

# The trainer's seed in the dropout-on case, and the step whose masks are used (the first step is step 1).
DROPOUT_SEED = 20260
DROPOUT_STEP = 1
HIDDEN_DROPOUT = 0.1
ATTENTION_DROPOUT = 0.1
LEARNING_RATES = [1e-3, 5e-4]  # two AdamW steps on the same batch
MAX_GRAD_NORM = 1.0
WEIGHT_DECAY = 0.01


# MARK: - Our dropout masks (CKernels/dropout.c, in integer arithmetic)

def keep_mask(seed, stream, n, p):
    """A numpy bool array: True where element i of ck_dropout_mask(mask, n, p, seed, stream, 0) is kept."""
    return np.array(dropout_reference.keep_mask(n, p, seed, stream), dtype=bool)


def dropout_scale(p):
    """1.0f / (float)(1.0 - (double)p), as ck_dropout_scale."""
    return dropout_reference.scale(p)


def dropout_stream(step, slot, site):
    """The stream of one dropout site, as SequenceClassifierTrainer.dropoutStream: step in bits 24..,
    slot (0 embeddings, 1 + l for encoder layer l, L + 1 the classifier head) in bits 8..23, site in bits 0..7."""
    return (step << 24) | (slot << 8) | site


SITE_EMBEDDINGS, SITE_ATTENTION_PROBS, SITE_ATTENTION_OUTPUT, SITE_FFN_OUTPUT, SITE_CLASSIFIER = range(5)


class MaskedDropout(torch.nn.Module):
    """nn.Dropout with our keep mask: kept values times 1/(1 - p) in float32, as ck_dropout_forward."""

    def __init__(self, p, stream_of):
        super().__init__()
        self.p, self.stream_of = p, stream_of

    def forward(self, x):
        keep = keep_mask(State.seed, self.stream_of(), x.numel(), self.p)
        keep = torch.from_numpy(keep.reshape(x.shape))
        return torch.where(keep, x * dropout_scale(self.p), torch.zeros((), dtype=x.dtype))


class State:
    seed = 0
    step = 1
    layers = 0
    attention_p = 0.0


def eager_attention_forward_with_our_dropout(module, query, key, value, attention_mask, scaling=None,
                                             dropout=0.0, **kwargs):
    # transformers 5.24 modeling_bert.eager_attention_forward with the dropout line replaced by our masks.
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = torch.nn.functional.softmax(attn_weights, dim=-1)
    if State.attention_p > 0:
        p = State.attention_p
        stream = dropout_stream(State.step, 1 + module.layer_idx, SITE_ATTENTION_PROBS)
        # Element (b, h, i, j) uses index ((b*NH + h)*T + i)*T + j: row-major over (B, NH, T, T).
        keep = torch.from_numpy(keep_mask(State.seed, stream, attn_weights.numel(), p).reshape(attn_weights.shape))
        attn_weights = torch.where(keep, attn_weights * dropout_scale(p), torch.zeros((), dtype=attn_weights.dtype))
    attn_output = torch.matmul(attn_weights, value)
    attn_output = attn_output.transpose(1, 2).contiguous()
    return attn_output, attn_weights


# MARK: - The model and the batch

def classifier_values(num_labels, hidden, seed):
    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((num_labels, hidden)) * 0.2).astype(np.float32)
    bias = (rng.standard_normal(num_labels) * 0.1).astype(np.float32)
    return weight, bias


def load(name, classifier, hidden_p, attention_p):
    model = BertForSequenceClassification.from_pretrained(FIXTURES / "models" / name, attn_implementation="eager",
                                                          dtype=torch.float32)
    weight, bias = classifier
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(weight))
        model.classifier.bias.copy_(torch.from_numpy(bias))
    model.train()
    layers = model.config.num_hidden_layers
    State.layers = layers
    State.attention_p = attention_p
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    if hidden_p > 0:
        model.bert.embeddings.dropout = MaskedDropout(
            hidden_p, lambda: dropout_stream(State.step, 0, SITE_EMBEDDINGS))
        for l, layer in enumerate(model.bert.encoder.layer):
            layer.attention.output.dropout = MaskedDropout(
                hidden_p, lambda l=l: dropout_stream(State.step, 1 + l, SITE_ATTENTION_OUTPUT))
            layer.output.dropout = MaskedDropout(
                hidden_p, lambda l=l: dropout_stream(State.step, 1 + l, SITE_FFN_OUTPUT))
        model.dropout = MaskedDropout(hidden_p, lambda: dropout_stream(State.step, layers + 1, SITE_CLASSIFIER))
    return model


def make_batch(vocab_size, seed):
    """Four sentence pairs of different lengths: [CLS] a [SEP] b [SEP], right-padded with 0."""
    rng = np.random.default_rng(seed)
    shapes = [(4, 3), (1, 1), (6, 4), (2, 5)]
    rows, types = [], []
    for a, b in shapes:
        ids_a = rng.integers(5, vocab_size, a).tolist()
        ids_b = rng.integers(5, vocab_size, b).tolist()
        rows.append([2] + ids_a + [3] + ids_b + [3])
        types.append([0] * (a + 2) + [1] * (b + 1))
    return rows, types


def tensors(rows, types):
    length = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), length), dtype=torch.long)
    tt = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for b, (r, t) in enumerate(zip(rows, types)):
        ids[b, :len(r)] = torch.tensor(r)
        tt[b, :len(t)] = torch.tensor(t)
        mask[b, :len(r)] = 1
    return ids, tt, mask


def forward_backward(model, batch, labels):
    ids, tt, mask = batch
    model.zero_grad(set_to_none=False)
    out = model(input_ids=ids, token_type_ids=tt, attention_mask=mask, labels=labels)
    out.loss.backward()
    return out.loss.item()


def flat(values):
    return np.concatenate([v.detach().numpy().astype(np.float32).ravel() for v in values])


def no_decay(name):
    return any(nd in name for nd in ["bias", "LayerNorm.weight"])


def run(name, label_seed):
    torch.manual_seed(0)
    config = transformers.AutoConfig.from_pretrained(FIXTURES / "models" / name)
    num_labels, hidden = config.num_labels, config.hidden_size
    classifier = classifier_values(num_labels, hidden, label_seed)
    rows, types = make_batch(config.vocab_size, label_seed + 1)
    batch = tensors(rows, types)
    if num_labels == 1:
        targets = [0.5, -1.25, 2.0, 0.75]
        labels = torch.tensor(targets, dtype=torch.float32)
    else:
        targets = [0, 2, 1, 2]
        labels = torch.tensor(targets, dtype=torch.long)

    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "model": name, "model_dir": f"Tests/BertologyTests/Fixtures/models/{name}", "generator": GENERATOR,
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
        "input_ids": rows, "token_type_ids": types, "targets": targets,
        "classifier_weight": classifier[0].ravel().tolist(), "classifier_bias": classifier[1].tolist(),
    }

    # Dropout off: loss and gradients, then two AdamW steps with clipping.
    modeling_bert.eager_attention_forward = eager_attention_forward_with_our_dropout
    model = load(name, classifier, 0.0, 0.0)
    named = list(model.named_parameters())
    offset, params = 0, []
    for pname, p in named:
        params.append({"name": pname, "shape": list(p.shape), "offset": offset})
        offset += p.numel()
    manifest["parameters"] = params
    manifest["parameter_count"] = offset

    loss = forward_backward(model, batch, labels)
    manifest["dropout_off"] = {"loss": loss, "gradients": "gradients-dropout-off.npy"}
    np.save(folder / "gradients-dropout-off.npy", flat(p.grad for _, p in named))

    decay = [p for n, p in named if not no_decay(n)]
    plain = [p for n, p in named if no_decay(n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                   {"params": plain, "weight_decay": 0.0}],
                                  lr=LEARNING_RATES[0], betas=(0.9, 0.999), eps=1e-8, foreach=False)
    steps = []
    for index, lr in enumerate(LEARNING_RATES):
        step_loss = forward_backward(model, batch, labels)
        if index == 1:
            # The second step's gradients before clipping (the first step's are gradients-dropout-off.npy): the
            # Swift test feeds torch's own gradients to our clipping + AdamW, which isolates the optimizer.
            np.save(folder / "gradients-adamw-step-2.npy", flat(p.grad for _, p in named))
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM, foreach=False).item()
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
        steps.append({"learning_rate": lr, "loss": step_loss, "grad_norm": norm})
    manifest["adamw"] = {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": WEIGHT_DECAY,
                         "max_grad_norm": MAX_GRAD_NORM, "steps": steps,
                         "gradients": ["gradients-dropout-off.npy", "gradients-adamw-step-2.npy"],
                         "parameters_after": "parameters-after-adamw.npy"}
    np.save(folder / "parameters-after-adamw.npy", flat(p for _, p in named))

    # Dropout on, with our masks (the masks of step DROPOUT_STEP).
    State.seed, State.step = DROPOUT_SEED, DROPOUT_STEP
    model = load(name, classifier, HIDDEN_DROPOUT, ATTENTION_DROPOUT)
    named = list(model.named_parameters())
    loss = forward_backward(model, batch, labels)
    manifest["dropout_on"] = {"seed": DROPOUT_SEED, "step": DROPOUT_STEP, "hidden": HIDDEN_DROPOUT,
                              "attention": ATTENTION_DROPOUT, "loss": loss,
                              "gradients": "gradients-dropout-on.npy"}
    np.save(folder / "gradients-dropout-on.npy", flat(p.grad for _, p in named))

    (OUT / f"{name}.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{name}: loss {manifest['dropout_off']['loss']:.6f} (dropout on {loss:.6f}), "
          f"grad norms {[round(s['grad_norm'], 4) for s in steps]}")


def main():
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    run("tiny-classifier", 11)
    run("tiny-regression", 23)


if __name__ == "__main__":
    main()
