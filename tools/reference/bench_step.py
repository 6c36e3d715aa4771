#!/usr/bin/env python3
"""Times one soft-prompt training step in PyTorch eager mode on the CPU (the baseline for the engine's step).

Model: a Llama decoder with SmolLM2-135M's dimensions (30 layers, hidden 576, 9 query / 3 key-value heads,
head_dim 64, MLP 1536, vocabulary 49152, tied embeddings, rope_theta 100000, rms_norm_eps 1e-5), random
float32 weights, every weight frozen (requires_grad False).
Step: inputs_embeds [batch, seq, 576] requires grad; h = LlamaModel(inputs_embeds).last_hidden_state; the
hidden states at the last `--targets` positions of each row are gathered, projected by lm_head and scored
with cross-entropy against random target ids (mean; no shift, as in make_llama_golden.py); backward to
inputs_embeds only. Two warm-up steps, then the median of `--steps` timed steps.

Prints one JSON line:
  {"bench":"softprompt_step_torch","torch_ms":...,"threads":...,"steps":...,"torch_version":...,...}
plus the peak resident set size of the process (peak_rss_mb), the 1-minute load average before and after
(load_avg_1m) and a 1024^3 float32 matmul throughput at the same thread count (matmul_gflops): on a shared
machine the step time is only meaningful next to those.

Usage: python tools/reference/bench_step.py [--threads 2] [--steps 5] [--batch 4] [--seq 128] [--targets 32]
"""

import argparse
import json
import os
import resource
import statistics
import time

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM


def smollm2_135m_config(attn: str) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        head_dim=64,
        hidden_act="silu",
        max_position_embeddings=8192,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
        tie_word_embeddings=True,
        attention_bias=False,
        mlp_bias=False,
        attn_implementation=attn,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--targets", type=int, default=32, help="scored positions at the end of each row")
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"], help="HF attention implementation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = smollm2_135m_config(args.attn)
    model = LlamaForCausalLM(config).to(torch.float32).eval()
    model.requires_grad_(False)
    n_params = sum(p.numel() for p in model.parameters())

    g = torch.Generator().manual_seed(args.seed)
    hidden = config.hidden_size
    base = torch.randn(args.batch, args.seq, hidden, generator=g) * 0.05
    positions = torch.arange(args.seq - args.targets, args.seq)
    flat_positions = (torch.arange(args.batch)[:, None] * args.seq + positions[None, :]).reshape(-1)
    target_ids = torch.randint(0, config.vocab_size, (flat_positions.numel(),), generator=g)

    def step() -> float:
        x = base.clone().requires_grad_(True)
        h = model.model(inputs_embeds=x, use_cache=False).last_hidden_state
        logits = model.lm_head(h.reshape(-1, hidden)[flat_positions])
        loss = torch.nn.functional.cross_entropy(logits, target_ids)
        loss.backward()
        assert x.grad is not None and x.grad.shape == x.shape
        return float(loss.detach())

    load_before = os.getloadavg()[0]
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - t0) * 1000)

    # Machine speed right now: 1024^3 float32 matmul throughput at the same thread count, so that runs on a
    # busy or different machine can be put side by side.
    a, b = torch.randn(1024, 1024, generator=g), torch.randn(1024, 1024, generator=g)
    a @ b
    t0 = time.perf_counter()
    for _ in range(10):
        a @ b
    calib_gflops = 2 * 1024**3 * 10 / (time.perf_counter() - t0) / 1e9

    print(
        json.dumps(
            {
                "bench": "softprompt_step_torch",
                "torch_ms": round(statistics.median(times), 1),
                "threads": args.threads,
                "steps": args.steps,
                "torch_version": torch.__version__,
                "transformers_version": transformers.__version__,
                "attn": args.attn,
                "batch": args.batch,
                "seq": args.seq,
                "targets_per_row": args.targets,
                "params": n_params,
                "loss": round(loss, 4),
                "all_ms": [round(t, 1) for t in times],
                "matmul_gflops": round(calib_gflops, 1),
                "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                # ru_maxrss is in KiB on Linux.
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
