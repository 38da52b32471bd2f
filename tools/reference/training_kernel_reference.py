#!/usr/bin/env python3
"""PyTorch reference values for the training kernels of CKernels (developer machines only; CI never runs this).

Run from the repository root: writes Tests/BertologyTests/Fixtures/training/training_kernels.json (and
training_attention.json, the attention case) with small seeded float32 inputs and what torch computes from them (autograd for every gradient):

  cross_entropy  torch.nn.functional.cross_entropy (mean) and its gradient, 3 labels
  mse            torch.nn.functional.mse_loss (mean) and its gradient
  adamw          torch.optim.AdamW(lr, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01, foreach=False), 4 steps
  gelu           the exact-erf GELU's input gradient (F.gelu, approximate='none')
  tanh           tanh's input gradient
  layernorm      nn.functional.layer_norm on a (3, 7) input, eps 1e-12: output, input/weight/bias gradients
  linear         nn.functional.linear on (5, 7) -> (5, 3): input/weight/bias gradients
  embeddings     word + position + token type lookups (repeated ids): the three tables' gradients
  attention      multi-head self-attention from a fused qkv, a padded batch (lengths 5 and 3, padding keys
                 masked with -inf): context, probabilities and d_qkv, with dropout off and with dropout 0.2
                 on the probabilities given CKernels' own mask (dropout_reference.keep_mask)

Every float32 is written as the shortest decimal that reads back as the same float32 (the exact torch bits).
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dropout_reference import keep_mask, scale as dropout_scale  # noqa: E402

OUT = Path("Tests/BertologyTests/Fixtures/training/training_kernels.json")
OUT_ATTENTION = Path("Tests/BertologyTests/Fixtures/training/training_attention.json")
torch.manual_seed(12)
torch.set_num_threads(1)


def values(t):
    # The shortest decimal that reads back as the same float32 (keeps the fixture small).
    return [float(str(np.float32(x))) for x in t.detach().reshape(-1).to(torch.float32).tolist()]


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float32) * scale)


def cross_entropy():
    logits = randn(5, 3, scale=2.0).requires_grad_()
    labels = torch.tensor([0, 2, 1, 2, 0])
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    return {"B": 5, "NL": 3, "logits": values(logits), "labels": labels.tolist(), "loss": float(loss.detach()),
            "d_logits": values(logits.grad)}


def mse():
    predictions = randn(6).requires_grad_()
    targets = randn(6)
    loss = F.mse_loss(predictions, targets)
    loss.backward()
    return {"B": 6, "predictions": values(predictions), "targets": values(targets), "loss": float(loss.detach()),
            "d_predictions": values(predictions.grad)}


def adamw():
    n, steps = 11, 4
    lr, betas, eps, weight_decay = 1e-3, (0.9, 0.999), 1e-8, 0.01
    param = torch.nn.Parameter(randn(n))
    initial = values(param)
    optimizer = torch.optim.AdamW([param], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=False)
    grads, params = [], []
    for _ in range(steps):
        grad = randn(n, scale=0.5)
        param.grad = grad.clone()
        optimizer.step()
        grads.append(values(grad))
        params.append(values(param))
    state = optimizer.state[param]
    return {"n": n, "lr": lr, "beta1": betas[0], "beta2": betas[1], "eps": eps, "weight_decay": weight_decay,
            "initial": initial, "grads": grads, "params": params, "m": values(state["exp_avg"]),
            "v": values(state["exp_avg_sq"])}


def gelu():
    x = torch.tensor([-6.0, -3.5, -2.0, -1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0, 2.0, 3.5, 6.0], dtype=torch.float32)
    x = torch.cat([x, randn(8, scale=2.0)]).requires_grad_()
    d_out = randn(x.numel())
    F.gelu(x, approximate="none").backward(d_out)
    return {"x": values(x), "d_out": values(d_out), "d_inp": values(x.grad)}


def tanh():
    x = randn(9, scale=2.0).requires_grad_()
    out = torch.tanh(x)
    d_out = randn(9)
    out.backward(d_out)
    return {"out": values(out), "d_out": values(d_out), "d_inp": values(x.grad)}


def layernorm():
    N, C, eps = 3, 7, 1e-12
    x = (randn(N, C) * 2 + 0.5).requires_grad_()
    weight = (1 + randn(C, scale=0.1)).requires_grad_()
    bias = randn(C, scale=0.1).requires_grad_()
    out = F.layer_norm(x, (C,), weight, bias, eps)
    d_out = randn(N, C)
    out.backward(d_out)
    return {"N": N, "C": C, "eps": eps, "x": values(x), "weight": values(weight), "bias": values(bias),
            "out": values(out), "d_out": values(d_out), "d_inp": values(x.grad), "d_weight": values(weight.grad),
            "d_bias": values(bias.grad)}


def linear():
    M, N, K = 5, 3, 7
    x = randn(M, K).requires_grad_()
    weight = randn(N, K, scale=0.3).requires_grad_()
    bias = randn(N).requires_grad_()
    d_out = randn(M, N)
    F.linear(x, weight, bias).backward(d_out)
    return {"M": M, "N": N, "K": K, "x": values(x), "weight": values(weight), "d_out": values(d_out),
            "d_inp": values(x.grad), "d_weight": values(weight.grad), "d_bias": values(bias.grad)}


def embeddings():
    B, T, C, V, P, TT = 2, 3, 5, 6, 4, 2
    word = torch.zeros(V, C, requires_grad=True)
    position = torch.zeros(P, C, requires_grad=True)
    token_type = torch.zeros(TT, C, requires_grad=True)
    ids = torch.tensor([[1, 4, 1], [1, 0, 5]])
    types = torch.tensor([[0, 0, 1], [0, 1, 1]])
    out = word[ids] + position[torch.arange(T)][None] + token_type[types]
    d_out = randn(B, T, C)
    out.backward(d_out)
    return {"B": B, "T": T, "C": C, "V": V, "P": P, "TT": TT, "ids": ids.reshape(-1).tolist(),
            "types": types.reshape(-1).tolist(), "d_out": values(d_out), "d_word": values(word.grad),
            "d_position": values(position.grad), "d_token_type": values(token_type.grad)}


def attention_case(qkv0, d_context, lengths, NH, HS, dropout_p, seed, stream):
    B, T, C3 = qkv0.shape
    C = C3 // 3
    qkv = qkv0.clone().requires_grad_()
    q, k, v = (qkv[..., i * C:(i + 1) * C].reshape(B, T, NH, HS).transpose(1, 2) for i in range(3))
    scale = 1.0 / math.sqrt(HS)
    scores = (q @ k.transpose(-1, -2)) * scale
    key_mask = torch.arange(T)[None, :] >= torch.tensor(lengths)[:, None]  # (B, T): padding keys
    scores = scores.masked_fill(key_mask[:, None, None, :], float("-inf"))
    probs = scores.softmax(-1)
    probs.retain_grad()
    dropped = probs
    if dropout_p > 0:
        mask = torch.tensor(keep_mask(B * NH * T * T, dropout_p, seed, stream), dtype=torch.float32)
        dropped = probs * (mask.reshape(B, NH, T, T) * dropout_scale(dropout_p))
    context = (dropped @ v).transpose(1, 2).reshape(B, T, C)
    context.backward(d_context)
    return {"dropout_p": dropout_p, "seed": str(seed), "stream": str(stream), "context": values(context),
            "probs": values(probs), "d_qkv": values(qkv.grad)}


def attention():
    B, T, NH, HS = 2, 5, 2, 3
    C = NH * HS
    lengths = [5, 3]
    qkv = randn(B, T, 3 * C)
    d_context = randn(B, T, C)
    cases = [attention_case(qkv, d_context, lengths, NH, HS, 0.0, 0, 0),
             attention_case(qkv, d_context, lengths, NH, HS, 0.2, 1234, 5)]
    return {"B": B, "T": T, "NH": NH, "HS": HS, "scale": 1.0 / math.sqrt(HS), "lengths": lengths,
            "qkv": values(qkv), "d_context": values(d_context), "cases": cases}


def main():
    fixture = {
        "torch": torch.__version__,
        "cross_entropy": cross_entropy(), "mse": mse(), "adamw": adamw(), "gelu": gelu(), "tanh": tanh(),
        "layernorm": layernorm(), "linear": linear(), "embeddings": embeddings(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    for path, content in [(OUT, fixture), (OUT_ATTENTION, {"torch": torch.__version__, **attention()})]:
        path.write_text(json.dumps(content, separators=(",", ":")) + "\n")
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
