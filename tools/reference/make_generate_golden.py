#!/usr/bin/env python3
"""Greedy generation golden for the tiny Llama (test/fixtures/tiny-llama/untied): transformers' generate.

Loads the committed checkpoint with LlamaForCausalLM (float32, eager attention), runs
`generate(input_ids, do_sample=False, max_new_tokens=20)` from a fixed prompt of token ids with the
checkpoint's generation_config (eos_token_id 2 stops generation; none of the 20 tokens here is 2), and
writes test/fixtures/generate/tiny_llama_greedy.json:

  prompt_ids        the prompt
  generated_ids     the new tokens (20, or fewer when eos was produced; eos included)
  eos_token_id      the stop id generate used
  step_margins      per step, top-1 minus top-2 logit (float32): how far each choice is from a tie
  step_logits_top1  per step, the chosen token's logit

Usage (from the repository root): python tools/reference/make_generate_golden.py
"""

import json
from pathlib import Path

import torch
import transformers
from transformers import LlamaForCausalLM

CHECKPOINT = Path("test/fixtures/tiny-llama/untied")
OUT = Path("test/fixtures/generate/tiny_llama_greedy.json")
PROMPT = [1, 5, 17, 42, 8, 63, 29, 11, 70, 33, 4, 58]
NEW_TOKENS = 20


def main() -> None:
    torch.manual_seed(0)
    model = LlamaForCausalLM.from_pretrained(CHECKPOINT, torch_dtype=torch.float32, attn_implementation="eager").eval()
    input_ids = torch.tensor([PROMPT])
    with torch.no_grad():
        out = model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            do_sample=False,
            max_new_tokens=NEW_TOKENS,
            output_scores=True,
            return_dict_in_generate=True,
        )
    generated = out.sequences[0, len(PROMPT):].tolist()
    margins = []
    top1 = []
    for scores in out.scores:
        top = torch.topk(scores[0], 2).values
        margins.append(round(float(top[0] - top[1]), 6))
        top1.append(round(float(top[0]), 6))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "checkpoint": str(CHECKPOINT),
                "prompt_ids": PROMPT,
                "max_new_tokens": NEW_TOKENS,
                "eos_token_id": model.generation_config.eos_token_id,
                "generated_ids": generated,
                "step_margins": margins,
                "step_logits_top1": top1,
                "torch_version": torch.__version__,
                "transformers_version": transformers.__version__,
            },
            indent=1,
        )
        + "\n"
    )
    print(json.dumps({"golden": str(OUT), "generated_ids": generated, "min_margin": min(margins)}))


if __name__ == "__main__":
    main()
