#!/usr/bin/env python3
"""Checks the tiny-llama goldens against an independent float64 NumPy Llama written from the equations.

It reads only the committed files (config.json, model.safetensors, golden.safetensors), so it also serves as
a readable specification of what the TypeScript engine must compute:

  rms_norm(x, w)  = w * x / sqrt(mean(x^2, last axis) + eps)
  rope            : inv_freq[j] = theta^(-2j/d) for j < d/2; angle[t, j] = t * inv_freq[j];
                    cos/sin tiled twice along the head dim; rotate_half(x) = concat(-x[d/2:], x[:d/2]);
                    q' = q * cos + rotate_half(q) * sin (same for k)
  attention       : per query head h, key-value head h // (n_heads / n_kv_heads);
                    softmax(q k^T / sqrt(d) + causal mask) v, heads concatenated, then o_proj
  layer           : x = x + attn(rms_norm(x, input_layernorm)); x = x + mlp(rms_norm(x, post_attention_layernorm))
  mlp             : down_proj(silu(gate_proj(x)) * up_proj(x))
  Linear weights are [out, in] (y = x W^T), names as in the HF checkpoint.
The float64 golden is computed without HF's float32 casts (see make_llama_golden.py), so this must agree to
~1e-12; it also reports how far stock HF float32 (the "f32." entries) lies from the float64 golden.

Then the loss of make_llama_golden.py, and a central finite-difference check of grad.inputs_embeds on a few
elements. Usage: python tools/reference/check_llama_golden.py [--dir test/fixtures/tiny-llama]
"""

import argparse
import json
import os

import numpy as np
from safetensors.numpy import load_file


def rms_norm(x, w, eps):
    return w * x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def rope_tables(seq, dim, theta):
    inv_freq = theta ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)
    angles = np.arange(seq, dtype=np.float64)[:, None] * inv_freq[None, :]
    emb = np.concatenate([angles, angles], axis=-1)
    return np.cos(emb), np.sin(emb)


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def llama_hidden(w, cfg, x, tables=None):
    """Final hidden states (after the final norm) and each decoder layer's output, for inputs_embeds x.
    `tables` = (cos, sin) to use instead of computing float64 RoPE tables."""
    b, t, _ = x.shape
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim") or cfg["hidden_size"] // nh
    eps = cfg["rms_norm_eps"]
    theta = (cfg.get("rope_parameters") or {}).get("rope_theta", cfg.get("rope_theta", 10000.0))
    cos, sin = tables if tables is not None else rope_tables(t, d, theta)
    mask = np.triu(np.full((t, t), -np.inf), k=1)
    outputs = []
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        hn = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (hn @ w[p + "self_attn.q_proj.weight"].T).reshape(b, t, nh, d).transpose(0, 2, 1, 3)
        k = (hn @ w[p + "self_attn.k_proj.weight"].T).reshape(b, t, nkv, d).transpose(0, 2, 1, 3)
        v = (hn @ w[p + "self_attn.v_proj.weight"].T).reshape(b, t, nkv, d).transpose(0, 2, 1, 3)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        group = nh // nkv
        k = np.repeat(k, group, axis=1)
        v = np.repeat(v, group, axis=1)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        attn = (probs @ v).transpose(0, 2, 1, 3).reshape(b, t, nh * d)
        x = x + attn @ w[p + "self_attn.o_proj.weight"].T
        hn = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = hn @ w[p + "mlp.gate_proj.weight"].T
        up = hn @ w[p + "mlp.up_proj.weight"].T
        x = x + ((gate / (1 + np.exp(-gate))) * up) @ w[p + "mlp.down_proj.weight"].T
        outputs.append(x)
    return rms_norm(x, w["model.norm.weight"], eps), outputs


def loss_and_logits(w, cfg, x, positions, ids, tables=None):
    h, outputs = llama_hidden(w, cfg, x, tables)
    lm_head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    logits = h.reshape(-1, h.shape[-1])[positions] @ lm_head.T
    shifted = logits - logits.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return -logp[np.arange(len(ids)), ids].mean(), logits, h, outputs


def check_variant(path):
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    w = {k: v.astype(np.float64) for k, v in load_file(os.path.join(path, "model.safetensors")).items()}
    g = load_file(os.path.join(path, "golden.safetensors"))
    x = g["inputs_embeds"].astype(np.float64)
    pos, ids = g["target_positions"], g["target_ids"]
    loss, logits, h, outputs = loss_and_logits(w, cfg, x, pos, ids)
    report = {
        "variant": os.path.basename(path),
        "loss_abs_err": abs(float(loss) - float(g["loss_f64"])),
        "logits_max_abs_err": float(np.abs(logits - g["logits_at_targets_f64"]).max()),
        "final_hidden_max_abs_err": float(np.abs(h - g["final_hidden"]).max()),
        "layer_output_max_abs_err": max(
            float(np.abs(o - g[f"layer_output.{i}"]).max()) for i, o in enumerate(outputs)
        ),
        # How far stock HF float32 is from the float64 golden (what a float32 engine should expect).
        "f32_loss_abs_diff": abs(float(g["f32.loss"]) - float(g["loss_f64"])),
        "f32_logits_max_abs_diff": float(np.abs(g["f32.logits_at_targets"] - g["logits_at_targets_f64"]).max()),
        "f32_grad_inputs_embeds_max_abs_diff": float(
            np.abs(g["f32.grad.inputs_embeds"] - g["grad.inputs_embeds_f64"]).max()
        ),
    }
    # Central differences on a few elements of inputs_embeds, against the float64 golden gradient.
    rng = np.random.default_rng(0)
    step = 1e-6
    fd_err = 0.0
    for flat in rng.choice(x.size, size=6, replace=False):
        idx = np.unravel_index(flat, x.shape)
        xp, xm = x.copy(), x.copy()
        xp[idx] += step
        xm[idx] -= step
        fd = (loss_and_logits(w, cfg, xp, pos, ids)[0] - loss_and_logits(w, cfg, xm, pos, ids)[0]) / (2 * step)
        fd_err = max(fd_err, abs(fd - float(g["grad.inputs_embeds_f64"][idx])))
    report["grad_inputs_embeds_fd_max_abs_err"] = fd_err
    # And on one element of a few parameters (their golden gradients are stored as float32).
    param_err = 0.0
    head = "model.embed_tokens.weight" if cfg["tie_word_embeddings"] else "lm_head.weight"
    for name in ("model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight", "model.norm.weight", head):
        idx = np.unravel_index(int(rng.integers(w[name].size)), w[name].shape)
        wp, wm = dict(w), dict(w)
        wp[name] = w[name].copy()
        wm[name] = w[name].copy()
        wp[name][idx] += step
        wm[name][idx] -= step
        fd = (loss_and_logits(wp, cfg, x, pos, ids)[0] - loss_and_logits(wm, cfg, x, pos, ids)[0]) / (2 * step)
        param_err = max(param_err, abs(fd - float(g[f"grad.{name}"][idx])))
    report["grad_params_fd_max_abs_err"] = param_err
    report["grad_inputs_embeds_max_abs"] = float(np.abs(g["grad.inputs_embeds_f64"]).max())
    ok = (
        report["loss_abs_err"] < 1e-10
        and report["logits_max_abs_err"] < 1e-9
        and report["final_hidden_max_abs_err"] < 1e-6  # stored as float32: half an ulp of values up to ~4
        and report["layer_output_max_abs_err"] < 1e-6
        and fd_err < 1e-7
        and param_err < 1e-7
    )
    report["ok"] = bool(ok)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default="test/fixtures/tiny-llama")
    args = parser.parse_args()
    ok = True
    for variant in ("untied", "tied"):
        report = check_variant(os.path.join(args.dir, variant))
        ok = ok and report["ok"]
        print(json.dumps(report))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
