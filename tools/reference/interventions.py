"""Head interventions for the transformers reference (developer machines only; CI never runs this).

transformers 5 removed `head_mask`. `install()` replaces transformers.models.bert.modeling_bert.eager_attention_forward
(looked up by name at each call) with a copy that edits the attention probabilities after softmax/dropout and before
they multiply V, following `AttentionState.plan`:

- "zero": the head's probabilities become 0 (HF head_mask = 0);
- "uniform": every query row, padding rows included, gets 1/L (float32) on each of the L real keys and 0 on padding
  keys (the paper's released code: probs = bin_mask / eff_len).

Shared by make_model_fixtures.py and eval_reference.py; see tools/reference/README.md.
"""

import torch
import transformers.models.bert.modeling_bert as modeling_bert


# MARK: - Head interventions inside eager attention

class AttentionState:
    """What the patched attention does during the current forward pass."""
    plan = {}            # layer -> {head: "zero" | "uniform"}
    key_real = None      # (B, T) bool: the attention_mask passed to the model
    returned = []        # the probabilities each layer multiplied with V, in call order (when record is True)
    record = True        # keep `returned` (fixtures check it; long evaluations turn it off)
    masks_seen = set()   # descriptions of the 4-D additive masks met, for the report


def describe_mask(attention_mask):
    if attention_mask is None:
        return "None"
    values = sorted(set(attention_mask.unique().tolist()))
    return f"{tuple(attention_mask.shape)} {attention_mask.dtype} values {values}"


def key_mask_from_additive(attention_mask, batch, length):
    """Real keys from the additive mask transformers builds: None (nothing padded) or (B, 1, T, T) with
    0 for visible keys and finfo(float32).min for padded ones, the same for every query row."""
    if attention_mask is None:
        return torch.ones(batch, length, dtype=torch.bool)
    assert attention_mask.dim() == 4 and attention_mask.shape[1] == 1, attention_mask.shape
    visible = attention_mask.expand(batch, 1, length, length)[:, 0] == 0          # (B, T, T)
    assert torch.equal(visible, visible[:, :1, :].expand_as(visible)), "key mask differs between query rows"
    return visible[:, 0, :]


def intervene(weights, layer, attention_mask):
    """weights is (B, NH, T, T) after softmax and dropout; returns what multiplies V."""
    batch, _, length, _ = weights.shape
    key_real = key_mask_from_additive(attention_mask, batch, length)
    assert torch.equal(key_real, AttentionState.key_real), "additive mask disagrees with attention_mask"
    plan = AttentionState.plan.get(layer)
    if not plan:
        return weights
    weights = weights.clone()
    lengths = key_real.sum(dim=-1).to(torch.float32)                               # (B,)
    # The paper's released code: probs = bin_mask / eff_len; float32 division, 1/L on each real key.
    uniform = key_real.to(torch.float32) / lengths[:, None]                         # (B, T)
    for head, mode in plan.items():
        if mode == "zero":
            weights[:, head] = 0.0
        elif mode == "uniform":
            weights[:, head] = uniform[:, None, :].expand(batch, length, length)
        else:
            raise ValueError(mode)
    return weights


_original_eager_attention_forward = modeling_bert.eager_attention_forward


def eager_attention_forward_with_interventions(module, query, key, value, attention_mask, scaling=None,
                                               dropout=0.0, **kwargs):
    # A copy of transformers 5.24 modeling_bert.eager_attention_forward with one added line (intervene).
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = torch.nn.functional.softmax(attn_weights, dim=-1)
    attn_weights = torch.nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    AttentionState.masks_seen.add(describe_mask(attention_mask))
    attn_weights = intervene(attn_weights, module.layer_idx, attention_mask)
    if AttentionState.record:
        AttentionState.returned.append((module.layer_idx, attn_weights))
    attn_output = torch.matmul(attn_weights, value)
    attn_output = attn_output.transpose(1, 2).contiguous()
    return attn_output, attn_weights


# MARK: - Intervention specs (0-based layers and heads)

def plan_from_intervention(intervention, num_layers, num_heads):
    plan = {}
    if intervention is None:
        return plan
    parts = intervention["parts"] if intervention["mode"] == "mixed" else [intervention]
    for part in parts:
        targets = [tuple(h) for h in part["heads"]]
        targets += [(layer, head) for layer in part["layers"] for head in range(num_heads)]
        for layer, head in targets:
            assert 0 <= layer < num_layers and 0 <= head < num_heads, (layer, head)
            assert head not in plan.get(layer, {}), f"head ({layer},{head}) named twice"
            plan.setdefault(layer, {})[head] = part["mode"]
    return plan


def intervention(mode, heads=(), layers=()):
    return {"mode": mode, "heads": [list(h) for h in heads], "layers": list(layers)}


def mixed(*parts):
    heads = sorted({tuple(h) for p in parts for h in p["heads"]})
    layers = sorted({layer for p in parts for layer in p["layers"]})
    return {"mode": "mixed", "heads": [list(h) for h in heads], "layers": layers, "parts": list(parts)}


# MARK: - Installing the hook

def install():
    """Route BERT's eager attention through the intervention hook (no change while the plan is empty)."""
    modeling_bert.eager_attention_forward = eager_attention_forward_with_interventions


def uninstall():
    modeling_bert.eager_attention_forward = _original_eager_attention_forward


def set_batch(plan, attention_mask):
    """Before each forward pass: the interventions and the (B, T) 0/1 attention mask of the batch."""
    AttentionState.plan = plan
    AttentionState.key_real = attention_mask.bool()
    AttentionState.returned = []


# MARK: - Pooling

def mean_pooling(token_embeddings, attention_mask):
    # sentence-transformers' Pooling(mean) and the all-MiniLM-L6-v2 model card, verbatim.
    input_mask_expanded = attention_mask.unsqueeze(-1).expand(token_embeddings.size()).float()
    return torch.sum(token_embeddings * input_mask_expanded, 1) / torch.clamp(input_mask_expanded.sum(1), min=1e-9)
