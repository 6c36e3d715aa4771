#!/usr/bin/env python3
"""Times SmolVLM-256M-sized inference in transformers on the CPU: the PyTorch side of `npm run bench:decode`.

Model: Idefics3ForConditionalGeneration, random init (seeded), float32, with SmolVLM-256M's sizes:
text Llama hidden 576, 30 layers, 9 query / 3 key-value heads (head_dim 64), MLP 1536, vocabulary 49280,
tied embeddings, rope_theta 100000; vision SigLIP 12 layers, hidden 768, 12 heads, MLP 3072, patch 16,
image 512 (1024 patches); pixel shuffle scale 4 -> 64 image tokens projected to 576.
Prompt: 64 image tokens then 64 text tokens (one image, one 512x512 crop, no image splitting).

Measures (medians over --repeats after one warm-up):
  encode_ms   model.model.get_image_features(pixel_values) (vision tower + connector)
  ttft_ms     from calling generate to the first token's logits (image encode + prefill of 128 positions)
  decode_tok_s  (new_tokens - 1) / (time from the first to the last token's logits) within one
              generate(max_new_tokens=N, min_new_tokens=N) call, greedy, batch 1 (a logits processor
              records when each step's logits arrive), as trainer/generate measures its decode

Prints one JSON line: {"bench":"decode_torch",...}. `--decode-only` skips the encode timing and runs one
warm-up (for a quick second run at another thread count).

Usage: python tools/reference/bench_decode.py [--threads 2] [--new-tokens 64] [--repeats 3] [--decode-only]
"""

import argparse
import json
import resource
import statistics
import time

import torch
import transformers
from transformers import Idefics3Config, Idefics3ForConditionalGeneration, LogitsProcessor, LogitsProcessorList

IMAGE_TOKEN_ID = 49190
VOCAB = 49280


def smolvlm_256m_config() -> Idefics3Config:
    return Idefics3Config(
        image_token_id=IMAGE_TOKEN_ID,
        scale_factor=4,
        tie_word_embeddings=True,
        vision_config={
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "image_size": 512,
            "patch_size": 16,
            "num_channels": 3,
            "hidden_act": "gelu_pytorch_tanh",
            "layer_norm_eps": 1e-6,
        },
        text_config={
            "model_type": "llama",
            "vocab_size": VOCAB,
            "hidden_size": 576,
            "intermediate_size": 1536,
            "num_hidden_layers": 30,
            "num_attention_heads": 9,
            "num_key_value_heads": 3,
            "head_dim": 64,
            "max_position_embeddings": 8192,
            "rms_norm_eps": 1e-5,
            "rope_parameters": {"rope_type": "default", "rope_theta": 100000.0},
            "tie_word_embeddings": True,
            "pad_token_id": 2,
        },
    )


class StepClock(LogitsProcessor):
    """Records when each generation step's logits are ready."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, input_ids, scores):
        self.times.append(time.perf_counter())
        return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--text-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decode-only", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = smolvlm_256m_config()
    model = Idefics3ForConditionalGeneration(config).to(torch.float32).eval()
    n_params = sum(p.numel() for p in model.parameters())

    g = torch.Generator().manual_seed(args.seed)
    image_tokens = (512 // 16) ** 2 // (4 * 4)
    text = torch.randint(3, 49000, (args.text_tokens,), generator=g)
    input_ids = torch.cat([torch.full((image_tokens,), IMAGE_TOKEN_ID), text])[None, :]
    pixel_values = torch.randn(1, 1, 3, 512, 512, generator=g)
    pixel_attention_mask = torch.ones(1, 1, 512, 512, dtype=torch.bool)
    attention_mask = torch.ones_like(input_ids)

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1000

    def encode() -> None:
        feats = model.model.get_image_features(pixel_values=pixel_values, pixel_attention_mask=pixel_attention_mask)
        feats = getattr(feats, "pooler_output", feats)
        assert feats is not None

    def run_generate(n: int, clock: StepClock | None = None):
        return model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            pixel_values=pixel_values,
            pixel_attention_mask=pixel_attention_mask,
            do_sample=False,
            max_new_tokens=n,
            min_new_tokens=n,
            logits_processor=LogitsProcessorList([clock] if clock else []),
        )

    def timed_generate() -> tuple[float, float]:
        clock = StepClock()
        t0 = time.perf_counter()
        out = run_generate(args.new_tokens, clock)
        assert out.shape[1] == input_ids.shape[1] + args.new_tokens and len(clock.times) == args.new_tokens
        ttft = (clock.times[0] - t0) * 1000
        return ttft, (args.new_tokens - 1) / (clock.times[-1] - clock.times[0])

    with torch.inference_mode():
        feats = model.model.get_image_features(pixel_values=pixel_values, pixel_attention_mask=pixel_attention_mask)
        feats = getattr(feats, "pooler_output", feats)
        if isinstance(feats, (list, tuple)):  # one tensor per image in some transformers versions
            feats = torch.cat(list(feats), 0)
        image_feature_shape = list(feats.shape)
        encode_ms = None
        if not args.decode_only:
            encode()
            encode_ms = statistics.median(timed(encode) for _ in range(args.repeats))
        run_generate(4)
        runs = [timed_generate() for _ in range(args.repeats)]
    ttft_ms = statistics.median(r[0] for r in runs)
    decode_tok_s = statistics.median(r[1] for r in runs)

    print(
        json.dumps(
            {
                "bench": "decode_torch",
                "encode_ms": None if encode_ms is None else round(encode_ms, 1),
                "ttft_ms": round(ttft_ms, 1),
                "decode_tok_s": round(decode_tok_s, 2),
                "decode_tok_s_all": [round(r[1], 2) for r in runs],
                "new_tokens": args.new_tokens,
                "prompt_positions": int(input_ids.shape[1]),
                "image_feature_shape": image_feature_shape,
                "threads": args.threads,
                "params": n_params,
                "torch_version": torch.__version__,
                "transformers_version": transformers.__version__,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
