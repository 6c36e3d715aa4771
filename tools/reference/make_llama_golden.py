#!/usr/bin/env python3
"""Tiny random-weight HF LlamaForCausalLM checkpoints plus golden loss, logits and gradients.

Two variants, tie_word_embeddings False ("untied") and True ("tied"; lm_head.weight IS
model.embed_tokens.weight). Each goes to test/fixtures/tiny-llama/<variant>/:
  config.json, generation_config.json, model.safetensors   from save_pretrained (float32 weights)
  golden.safetensors                                        the reference computation below

Model: hidden 64, 2 layers, 4 query heads and 2 key-value heads (GQA, head_dim 16), MLP 96 (SiLU gate),
vocab 97, rope_theta 10000 (default RoPE), rms_norm_eps 1e-5, max_position_embeddings 64, no biases,
attn_implementation "eager". Weights are re-drawn from a seeded normal (matrices std 1/sqrt(fan_in),
embeddings std 0.125, RMSNorm weights 1 + 0.1 * N(0, 1)) so that every parameter matters, then saved as
float32.

Reference computation in float64 (the model and the inputs are cast with .double(); all stored float32
weights and inputs are exact in float64). Stock HF Llama code keeps three steps in float32 even in a
float64 model: RMSNorm (upcasts to float32), eager attention's softmax (dtype=float32) and the RoPE tables
(inv_freq, angles, cos/sin in float32). For a true float64 golden those three are replaced, only while the
golden is computed and only for float64 inputs, by the same formulas without the float32 casts (see
`true_float64`); inv_freq[j] = 1 / theta^(2j/d) is then computed in float64. Everything else is HF's code.
check_llama_golden.py recomputes the golden with an independent NumPy implementation and must agree to ~1e-12.
The stock float32 model (as HF ships it) is recorded too, under the "f32." prefix.
  inputs_embeds   x: [B=2, T=8, H=64], drawn in float32; token embeddings are NOT used (x is fed directly).
  positions       0..T-1 in every row; causal attention; no padding, no attention mask.
  h = model.model(inputs_embeds=x).last_hidden_state        [B, T, H], i.e. AFTER the final RMSNorm
  target_positions int64 [N]: flattened indices b * T + t (here the last 5 positions of each row, N = 10)
  target_ids       int64 [N]: random token ids in [0, V)
  logits_at_targets = lm_head(h.reshape(B * T, H)[target_positions])          [N, V]
  loss = mean_i( -log_softmax(logits_at_targets[i])[target_ids[i]] )
The logits at position p are scored against target_ids directly: there is NO shift by one (the caller has
already chosen, for each position, the token it must predict).

Gradients of that loss: grad.inputs_embeds [B, T, H] and grad.<name> for every name in
model.named_parameters() (HF state-dict names; the tied variant has no lm_head.weight entry, and
grad.model.embed_tokens.weight is the sum of its lm_head use, as torch reports it). In the untied variant
the token embedding table is unused (inputs_embeds bypasses it), so grad.model.embed_tokens.weight is zeros.

golden.safetensors tensors (float32 unless named *_f64):
  inputs_embeds [2, 8, 64], target_positions I64 [10], target_ids I64 [10],
  loss [] and loss_f64 [] (F64), logits_at_targets [10, 97] and logits_at_targets_f64 (F64),
  final_hidden [2, 8, 64] (h above), layer_output.<i> [2, 8, 64] (output of decoder layer i, before the
  final norm), grad.inputs_embeds [2, 8, 64] and grad.inputs_embeds_f64 (F64), grad.<param> (float32),
  f32.loss [], f32.logits_at_targets [10, 97], f32.grad.inputs_embeds [2, 8, 64]: the same loss with the
  stock HF model in float32 (its own float32 RMSNorm/softmax/RoPE), for float32 engines;
  f32.rope_cos, f32.rope_sin [8, 16]: the float32 RoPE tables stock HF uses (position x head_dim).
__metadata__ holds the loss definition, seeds and library versions.

Usage: python tools/reference/make_llama_golden.py [--out test/fixtures/tiny-llama]
"""

import argparse
import contextlib
import json
import math
import os

import safetensors
import torch
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama import modeling_llama

BATCH, SEQ = 2, 8
TARGETS_PER_ROW = 5
SEED = 20260101

LOSS_DEFINITION = (
    "h = LlamaModel(inputs_embeds).last_hidden_state (after final RMSNorm; positions 0..T-1, causal, no mask); "
    "logits = lm_head(h.reshape(B*T, H)[target_positions]); "
    "loss = mean_i(-log_softmax(logits[i])[target_ids[i]]); no shift; computed in float64"
)


def tiny_config(tied: bool) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=97,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        hidden_act="silu",
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=tied,
        attention_bias=False,
        mlp_bias=False,
        attn_implementation="eager",
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=None,
    )


def redraw_weights(model: LlamaForCausalLM, generator: torch.Generator) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=generator))
            elif "embed_tokens" in name or name == "lm_head.weight":
                p.copy_(0.125 * torch.randn(p.shape, generator=generator))
            else:
                p.copy_(torch.randn(p.shape, generator=generator) / math.sqrt(p.shape[1]))


@contextlib.contextmanager
def true_float64():
    """HF's Llama with its float32 casts removed for float64 inputs (float32 inputs take HF's own path)."""
    rms_forward = modeling_llama.LlamaRMSNorm.forward
    rope_forward = modeling_llama.LlamaRotaryEmbedding.forward
    eager = modeling_llama.eager_attention_forward

    def rms_norm(self, hidden_states):
        if hidden_states.dtype != torch.float64:
            return rms_forward(self, hidden_states)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))

    def rope(self, x, position_ids):
        if x.dtype != torch.float64:
            return rope_forward(self, x, position_ids)
        assert self.rope_type == "default"
        dim = self.inv_freq.shape[0] * 2
        theta = self.config.rope_parameters["rope_theta"]
        inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
        freqs = position_ids[..., None].to(torch.float64) * inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()

    def attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
        if query.dtype != torch.float64:
            return eager(module, query, key, value, attention_mask, scaling, dropout, **kwargs)
        key_states = modeling_llama.repeat_kv(key, module.num_key_value_groups)
        value_states = modeling_llama.repeat_kv(value, module.num_key_value_groups)
        attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
        if attention_mask is not None:
            attn_weights = attn_weights + attention_mask
        attn_weights = torch.nn.functional.softmax(attn_weights, dim=-1)
        attn_output = torch.matmul(attn_weights, value_states).transpose(1, 2).contiguous()
        return attn_output, attn_weights

    modeling_llama.LlamaRMSNorm.forward = rms_norm
    modeling_llama.LlamaRotaryEmbedding.forward = rope
    modeling_llama.eager_attention_forward = attention
    try:
        yield
    finally:
        modeling_llama.LlamaRMSNorm.forward = rms_forward
        modeling_llama.LlamaRotaryEmbedding.forward = rope_forward
        modeling_llama.eager_attention_forward = eager


def targeted_loss(model, x, target_positions, target_ids, layer_outputs=None):
    """The loss defined in the module docstring; returns (loss, logits_at_targets, final hidden)."""
    hooks = []
    if layer_outputs is not None:
        for i, layer in enumerate(model.model.layers):
            hooks.append(
                layer.register_forward_hook(
                    lambda _m, _i, out, i=i: layer_outputs.__setitem__(
                        i, (out[0] if isinstance(out, tuple) else out).detach()
                    )
                )
            )
    h = model.model(inputs_embeds=x, use_cache=False).last_hidden_state
    for hook in hooks:
        hook.remove()
    batch, seq, hidden = h.shape
    logits = model.lm_head(h.reshape(batch * seq, hidden)[target_positions])
    loss = torch.nn.functional.cross_entropy(logits, target_ids, reduction="mean")
    return loss, logits, h


def make_variant(out_root: str, tied: bool) -> dict:
    variant = "tied" if tied else "untied"
    out = os.path.join(out_root, variant)
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))

    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED + (1 if tied else 0))
    config = tiny_config(tied)
    model = LlamaForCausalLM(config).to(torch.float32).eval()
    redraw_weights(model, g)
    if tied:
        assert model.lm_head.weight is model.model.embed_tokens.weight
    model.save_pretrained(out, safe_serialization=True)

    inputs_embeds = torch.randn(BATCH, SEQ, config.hidden_size, generator=g, dtype=torch.float32)
    target_positions = torch.tensor(
        [b * SEQ + t for b in range(BATCH) for t in range(SEQ - TARGETS_PER_ROW, SEQ)], dtype=torch.int64
    )
    target_ids = torch.randint(0, config.vocab_size, (len(target_positions),), generator=g, dtype=torch.int64)

    # Stock HF in float32 first (model.double() below converts the module in place).
    x32 = inputs_embeds.clone().requires_grad_(True)
    position_ids = torch.arange(SEQ, dtype=torch.int64)[None, :]
    f32_cos, f32_sin = model.model.rotary_emb(x32, position_ids)
    loss32, logits32, _ = targeted_loss(model, x32, target_positions, target_ids)
    loss32.backward()
    model.zero_grad(set_to_none=True)

    model64 = model.double()
    x = inputs_embeds.double().requires_grad_(True)
    layer_outputs: dict[int, torch.Tensor] = {}
    with true_float64():
        loss, logits, h = targeted_loss(model64, x, target_positions, target_ids, layer_outputs)
        loss.backward()
    assert len(layer_outputs) == config.num_hidden_layers

    golden = {
        "inputs_embeds": inputs_embeds,
        "target_positions": target_positions,
        "target_ids": target_ids,
        "loss": loss.detach().float(),
        "loss_f64": loss.detach().clone(),
        "logits_at_targets": logits.detach().float(),
        "logits_at_targets_f64": logits.detach().clone(),
        "final_hidden": h.detach().float(),
        "f32.loss": loss32.detach(),
        "f32.logits_at_targets": logits32.detach(),
        "f32.grad.inputs_embeds": x32.grad,
        "f32.rope_cos": f32_cos[0],
        "f32.rope_sin": f32_sin[0],
        "grad.inputs_embeds": x.grad.float(),
        "grad.inputs_embeds_f64": x.grad.clone(),
    }
    for i, out_i in layer_outputs.items():
        golden[f"layer_output.{i}"] = out_i.float()
    names = []
    for name, p in model64.named_parameters():
        names.append(name)
        grad = p.grad if p.grad is not None else torch.zeros_like(p)
        golden[f"grad.{name}"] = grad.float()
    golden = {k: v.contiguous() for k, v in golden.items()}
    metadata = {
        "loss_definition": LOSS_DEFINITION,
        "variant": variant,
        "tie_word_embeddings": str(tied).lower(),
        "seed": str(SEED),
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "safetensors_version": safetensors.__version__,
        "parameter_names": json.dumps(names),
    }
    save_file(golden, os.path.join(out, "golden.safetensors"), metadata=metadata)
    sizes = {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))}
    return {"variant": variant, "loss": loss.item(), "f32_loss": loss32.item(), "files": sizes, "total_bytes": sum(sizes.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="test/fixtures/tiny-llama")
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    for tied in (False, True):
        print(json.dumps(make_variant(args.out, tied)))


if __name__ == "__main__":
    main()
