#!/usr/bin/env python3
"""Reference fixtures for the encoder families beside BERT (developer machines only; CI never runs this).

For each family (RoBERTa, XLM-R, DistilBERT, ELECTRA with a factorised embedding, ALBERT with shared layers and
gelu_new) this builds a small random-weight `*ForSequenceClassification` with transformers (odd sizes, every
parameter perturbed so that attention is far from uniform), saves it with `save_pretrained` (config.json and
model.safetensors, exactly what a user's checkpoint folder holds) into Tests/BertologyTests/Fixtures/models/<name>/,
and writes transformers' float32 outputs (eager attention, eval mode) of padded batches and pairs, with and without
head interventions, into Tests/BertologyTests/Fixtures/reference/<name>.json and reference/<name>/*.npy in the
format of make_model_fixtures.py (read by ModelParityTests).

Interventions: transformers 5 has no head_mask; each family module's `eager_attention_forward` (looked up by name
at every call) is replaced by a copy that edits the probabilities after softmax, before they multiply V, as
interventions.py does for BERT. The layer is the call's position in the forward pass (ALBERT calls one shared
module for every layer, so a module attribute cannot say which layer it is).

Deterministic: fixed seeds, one torch thread. Usage (from the repository root):
    .venv/bin/python tools/reference/make_family_fixtures.py
"""

import json
import shutil
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import (AlbertConfig, AlbertForSequenceClassification, DistilBertConfig,
                          DistilBertForSequenceClassification, ElectraConfig, ElectraForSequenceClassification,
                          RobertaConfig, RobertaForSequenceClassification, XLMRobertaConfig,
                          XLMRobertaForSequenceClassification)
import transformers.models.albert.modeling_albert as modeling_albert
import transformers.models.distilbert.modeling_distilbert as modeling_distilbert
import transformers.models.electra.modeling_electra as modeling_electra
import transformers.models.roberta.modeling_roberta as modeling_roberta
import transformers.models.xlm_roberta.modeling_xlm_roberta as modeling_xlm_roberta

import interventions
from interventions import AttentionState, intervention, mixed, plan_from_intervention, set_batch
from make_model_fixtures import tiny_vocabulary

GENERATOR = "tools/reference/make_family_fixtures.py"
FIXTURES = Path("Tests/BertologyTests/Fixtures")
MODULES = [modeling_albert, modeling_distilbert, modeling_electra, modeling_roberta, modeling_xlm_roberta]


# MARK: - Interventions by call order

class State:
    calls = 0


def eager_attention_forward(module, *args, **kwargs):
    """interventions.py's hook with the layer taken from the call's position in the pass: ALBERT calls one shared
    module for every layer, so the module's own attribute cannot say which layer it is."""
    module.layer_idx = State.calls
    State.calls += 1
    return interventions.eager_attention_forward_with_interventions(module, *args, **kwargs)


# MARK: - The models

COMMON = dict(vocab_size=97, num_labels=3, id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})

FAMILIES = {
    "tiny-roberta": dict(seed=2001, cls=RobertaForSequenceClassification, config=RobertaConfig(
        hidden_size=36, num_attention_heads=3, intermediate_size=50, num_hidden_layers=3,
        max_position_embeddings=40, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        layer_norm_eps=1e-5, **COMMON), pad=1, cls_id=0, sep_id=2, pair_types=False, double_sep=True),
    "tiny-xlm-roberta": dict(seed=2002, cls=XLMRobertaForSequenceClassification, config=XLMRobertaConfig(
        hidden_size=28, num_attention_heads=4, intermediate_size=44, num_hidden_layers=3,
        max_position_embeddings=34, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        layer_norm_eps=1e-5, **COMMON), pad=1, cls_id=0, sep_id=2, pair_types=False, double_sep=True),
    "tiny-distilbert": dict(seed=2003, cls=DistilBertForSequenceClassification, config=DistilBertConfig(
        dim=30, n_heads=5, hidden_dim=46, n_layers=3, max_position_embeddings=40, pad_token_id=0,
        activation="gelu", **COMMON), pad=0, cls_id=2, sep_id=3, pair_types=False, double_sep=False),
    "tiny-electra": dict(seed=2004, cls=ElectraForSequenceClassification, config=ElectraConfig(
        embedding_size=20, hidden_size=36, num_attention_heads=3, intermediate_size=50, num_hidden_layers=3,
        max_position_embeddings=40, type_vocab_size=2, pad_token_id=0, **COMMON),
        pad=0, cls_id=2, sep_id=3, pair_types=True, double_sep=False),
    "tiny-albert": dict(seed=2005, cls=AlbertForSequenceClassification, config=AlbertConfig(
        embedding_size=20, hidden_size=36, num_attention_heads=3, intermediate_size=50, num_hidden_layers=4,
        num_hidden_groups=1, inner_group_num=1, hidden_act="gelu_new", max_position_embeddings=40,
        type_vocab_size=2, pad_token_id=0, classifier_dropout_prob=0.1, **COMMON),
        pad=0, cls_id=2, sep_id=3, pair_types=True, double_sep=False),
}


def build(name, spec):
    torch.manual_seed(spec["seed"])
    config = spec["config"]
    config._attn_implementation = "eager"
    model = spec["cls"](config).eval()
    # Random init gives near-uniform attention (std 0.02); perturb every parameter, LayerNorm included, so the
    # maps, the activations and the heads' differences are far from trivial.
    generator = torch.Generator().manual_seed(spec["seed"] + 1)
    with torch.no_grad():
        for _, parameter in sorted(model.named_parameters()):
            parameter.add_(0.25 * torch.randn(parameter.shape, generator=generator))
    folder = FIXTURES / "models" / name
    if folder.exists():
        shutil.rmtree(folder)
    model.save_pretrained(folder, safe_serialization=True)
    if spec["cls_id"] == 2:
        # The families whose specials sit where BERT's do ([PAD] 0, [CLS] 2, [SEP] 3) get the tiny WordPiece
        # vocabulary's first tokens as vocab.txt, so the commands' tests can run on them from the command line.
        (folder / "vocab.txt").write_text("\n".join(tiny_vocabulary()[:config.vocab_size]) + "\n")
    return model, folder


# MARK: - Inputs

def examples(spec, rng, vocab):
    """Three padded batches of token ids: singles, pairs, and one example of the longest length alone."""
    def sentence(n):
        return [int(x) for x in rng.integers(5, vocab, size=n)]

    def single(n):
        return [spec["cls_id"]] + sentence(n) + [spec["sep_id"]], None

    def pair(n, m):
        a = [spec["cls_id"]] + sentence(n) + [spec["sep_id"]]
        b = ([spec["sep_id"]] if spec["double_sep"] else []) + sentence(m) + [spec["sep_id"]]
        types = [0] * len(a) + ([1] * len(b) if spec["pair_types"] else [0] * len(b))
        return a + b, types

    return [
        ("singles-padded", [single(9), single(3), single(14)]),
        ("pairs-padded", [pair(5, 7), pair(2, 3), pair(8, 1)]),
        ("one-long", [single(21)]),
    ]


INTERVENTIONS = [
    ("", None),
    ("-zero", intervention("zero", heads=[(0, 1), (1, 0)], layers=[2])),
    ("-uniform", intervention("uniform", heads=[(0, 0), (1, 2)])),
    ("-mixed", mixed(intervention("zero", heads=[(1, 1)]), intervention("uniform", layers=[0]))),
]


def run_case(model, spec, name, rows, plan, out_dir):
    lengths = [len(ids) for ids, _ in rows]
    t = max(lengths)
    input_ids = [ids + [spec["pad"]] * (t - len(ids)) for ids, _ in rows]
    types = [(tt if tt is not None else [0] * len(ids)) + [0] * (t - len(ids)) for ids, tt in rows]
    mask = torch.tensor([[1] * n + [0] * (t - n) for n in lengths])
    set_batch(plan, mask)
    State.calls = 0
    kwargs = dict(input_ids=torch.tensor(input_ids), attention_mask=mask, output_hidden_states=True,
                  output_attentions=True)
    if spec["pair_types"]:
        kwargs["token_type_ids"] = torch.tensor(types)
    with torch.no_grad():
        out = model(**kwargs)
    layers = model.config.num_hidden_layers if hasattr(model.config, "num_hidden_layers") else model.config.n_layers
    assert State.calls == layers, (State.calls, layers)
    attentions = torch.stack([weights for _, weights in AttentionState.returned])  # (L, B, NH, T, T)
    reported = torch.stack(out.attentions)
    assert torch.equal(attentions, reported), "the reported attentions are not the probabilities that multiplied V"
    hidden = out.hidden_states[-1]
    real = mask.unsqueeze(-1).float()
    sentence = (hidden * real).sum(1) / real.sum(1)
    files = {}
    for key, value in [("attentions", attentions), ("last_hidden_state", hidden), ("logits", out.logits),
                       ("sentence_embedding", sentence)]:
        file = f"{name}.{key}.npy"
        np.save(out_dir / file, value.numpy().astype(np.float32))
        files[key] = file
    return dict(name=name, input_ids=input_ids, token_type_ids=types, lengths=lengths, outputs=files)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    originals = {m: m.eager_attention_forward for m in MODULES}
    for m in MODULES:
        m.eager_attention_forward = eager_attention_forward
    try:
        for name, spec in FAMILIES.items():
            model, folder = build(name, spec)
            # Reload what was saved, so the reference is the checkpoint a user would have.
            model = spec["cls"].from_pretrained(folder, attn_implementation="eager").eval()
            out_dir = FIXTURES / "reference" / name
            if out_dir.exists():
                shutil.rmtree(out_dir)
            out_dir.mkdir(parents=True)
            rng = np.random.default_rng(spec["seed"])
            config = model.config
            layers = getattr(config, "num_hidden_layers", None) or config.n_layers
            heads = getattr(config, "num_attention_heads", None) or config.n_heads
            cases = []
            for base, rows in examples(spec, rng, config.vocab_size):
                for suffix, spec_intervention in INTERVENTIONS:
                    plan = plan_from_intervention(spec_intervention, layers, heads)
                    case = run_case(model, spec, base + suffix, rows, plan, out_dir)
                    case["intervention"] = spec_intervention
                    cases.append(case)
            manifest = dict(model=name, model_dir=str(folder), generator=GENERATOR,
                            versions=dict(transformers=transformers.__version__, torch=torch.__version__),
                            model_class=type(model).__name__, model_type=config.model_type,
                            conventions="as make_model_fixtures.py: attentions (layers, batch, heads, query, key) "
                                        "after the intervention; layers and heads 0-based",
                            cases=cases)
            (FIXTURES / "reference" / f"{name}.json").write_text(json.dumps(manifest, indent=1) + "\n")
            print(f"{name}: {type(model).__name__}, {len(cases)} cases")
    finally:
        for m, f in originals.items():
            m.eager_attention_forward = f


if __name__ == "__main__":
    main()
