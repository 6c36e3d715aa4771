"""Loads the committed toy models with HF transformers and checks them against what our TypeScript
loader/runtime computed (trainer/toyworld/models/reference-outputs.json, written by
trainer/toyworld/train/reference-outputs.ts): tokenizer ids and chat template, CLIPImageProcessor
pixel values (through the embeddings), CLIPModel image/text embeddings, LLaVA last-position logits and
greedy answers. Prints one JSON line per check; exits 1 on any mismatch.

    python tools/reference/check_toy_models.py [--models trainer/toyworld/models]
"""

import argparse
import base64
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from transformers import (
    AutoTokenizer,
    CLIPImageProcessor,
    CLIPModel,
    LlavaForConditionalGeneration,
)

EMBED_TOL = 1e-4
LOGIT_TOL = 1e-3


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="trainer/toyworld/models")
    args = parser.parse_args()
    clip_dir = os.path.join(args.models, "toy-clip")
    llava_dir = os.path.join(args.models, "toy-llava")
    with open(os.path.join(args.models, "reference-outputs.json")) as f:
        ref = json.load(f)
    ok = True

    def report(check: str, passed: bool, **figures) -> None:
        nonlocal ok
        ok = ok and passed
        print(json.dumps({"check": check, "ok": passed, **figures}))

    images = [
        Image.frombytes("RGB", (im["width"], im["height"]), base64.b64decode(im["rgb_base64"]))
        for im in ref["images"]
    ]

    # CLIP: tokenizer, image processor, both towers.
    tok = AutoTokenizer.from_pretrained(clip_dir)
    ids = [tok(c)["input_ids"] + [tok.eos_token_id] for c in ref["clip"]["captions"]]
    ours = [[i for i in row if i != tok.pad_token_id] for row in ref["clip"]["input_ids"]]
    report("clip_tokenizer", ids == ours, vocab=len(tok))
    clip = CLIPModel.from_pretrained(clip_dir).eval()
    processor = CLIPImageProcessor.from_pretrained(clip_dir)
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    length = max(len(r) for r in ids)
    padded = torch.tensor([r + [tok.pad_token_id] * (length - len(r)) for r in ids])
    with torch.no_grad():
        image_embeds = clip.get_image_features(pixel_values=pixels)
        text_embeds = clip.get_text_features(input_ids=padded)
    image_embeds = getattr(image_embeds, "pooler_output", image_embeds)
    text_embeds = getattr(text_embeds, "pooler_output", text_embeds)
    d_img = float(np.abs(image_embeds.numpy().ravel() - np.array(ref["clip"]["image_embeds"])).max())
    d_txt = float(np.abs(text_embeds.numpy().ravel() - np.array(ref["clip"]["text_embeds"])).max())
    report("clip_image_embeds", d_img < EMBED_TOL, max_abs_diff=d_img, tol=EMBED_TOL)
    report("clip_text_embeds", d_txt < EMBED_TOL, max_abs_diff=d_txt, tol=EMBED_TOL)

    # LLaVA: chat template, tokenizer, forward logits, greedy generation.
    tok = AutoTokenizer.from_pretrained(llava_dir)
    model = LlavaForConditionalGeneration.from_pretrained(llava_dir).eval()
    image_token = model.config.image_token_id
    per_image = model.config.image_seq_length
    pixels = CLIPImageProcessor.from_pretrained(llava_dir)(images=images, return_tensors="pt")["pixel_values"]
    for i, question in enumerate(ref["llava"]["questions"]):
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        report("llava_chat_template", text == ref["llava"]["prompt_text"][i], row=i)
        row = []
        for t in tok(text)["input_ids"]:
            row.extend([t] * per_image if t == image_token else [t])
        report("llava_input_ids", row == ref["llava"]["input_ids"][i], row=i, length=len(row))
        input_ids = torch.tensor([ref["llava"]["input_ids"][i]])
        with torch.no_grad():
            logits = model(input_ids=input_ids, pixel_values=pixels[i : i + 1]).logits[0, -1].numpy()
        diff = float(np.abs(logits - np.array(ref["llava"]["last_logits"][i])).max())
        report("llava_last_logits", diff < LOGIT_TOL, row=i, max_abs_diff=diff, tol=LOGIT_TOL)
        with torch.no_grad():
            out = model.generate(
                input_ids=input_ids, pixel_values=pixels[i : i + 1], max_new_tokens=6, do_sample=False
            )
        answer = tok.decode(out[0, input_ids.shape[1] :], skip_special_tokens=True)
        report(
            "llava_greedy",
            answer.strip() == ref["llava"]["greedy_answers"][i].strip(),
            row=i,
            transformers=answer,
            ours=ref["llava"]["greedy_answers"][i],
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
