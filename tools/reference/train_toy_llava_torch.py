"""The PyTorch peer of one toy LLaVA stage: continues a checkpoint with transformers on rows that
trainer/toyworld/train/export-rows.ts drew exactly as a stage draws them, with the stage's optimiser
(AdamW betas 0.9/0.98, weight decay on every trained weight, warmup over the first 5% of steps, then cosine
to 10% of the peak or the peak held, gradient norm clipped at 1, loss the mean over assistant tokens). The
vision tower stays frozen, as in every LLaVA stage of the plan, so its features are computed once.

Rows from trainer/toyworld/train/export-recognition-quads.ts carry a fourth field, the image tokens an
answer should look at; with --attention-target LAYER,HEAD,WEIGHT the loss adds WEIGHT x the mean over those
rows of -log(attention mass of that head, at the answer position, on those tokens, or on the first token
when the list is empty), and --groups 4 keeps a quad's four rows in one batch.

It answers training questions against a second implementation: a loss that stays on a plateau in our
engine and here too is the recipe's, not the engine's. Prints one JSON line per logged step and, every
--eval-every steps and at the end, the yes/no accuracy on each match-probe set
(trainer/toyworld/train/match-probe-set.ts).

    npx tsx trainer/toyworld/train/export-rows.ts --out /tmp/rows --mix recognition=1 --max-objects 1
    npx tsx trainer/toyworld/train/match-probe-set.ts --out /tmp/match-probe
    python tools/reference/train_toy_llava_torch.py --rows /tmp/rows --probe /tmp/match-probe \\
        --steps 1500 --lr 1e-3 --decay constant trainer/toyworld/models/toy-llava

    npx tsx trainer/toyworld/train/export-recognition-quads.ts --out /tmp/quads
    npx tsx trainer/toyworld/train/export-recognition-quads.ts --out /tmp/quad-probe --probe
    python tools/reference/train_toy_llava_torch.py --rows /tmp/quads --probe /tmp/quad-probe --groups 4 \\
        --attention-target 2,0,1 --steps 800 --batch 32 --decay constant trainer/toyworld/models/toy-llava
"""

import argparse
import json
import math
import os
import random
import re
import time

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, LlavaForConditionalGeneration
from transformers.utils import logging

def tower_states(model, pixels: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat(
            [model.model.vision_tower(pixels[i : i + 500]).last_hidden_state for i in range(0, len(pixels), 500)]
        )


def forward(model, ids: torch.Tensor, mask: torch.Tensor, states: torch.Tensor | None, attentions: bool = False):
    """LLaVA's forward with the (frozen) tower's states given: projector, merge, LLM, head."""
    llm = model.model.language_model
    embeds = llm.embed_tokens(ids)
    if states is not None and len(states) > 0:
        features = model.model.multi_modal_projector(states).reshape(-1, embeds.shape[-1])
        embeds = embeds.masked_scatter((ids == model.config.image_token_index).unsqueeze(-1), features)
    out = llm(inputs_embeds=embeds, attention_mask=mask, output_attentions=attentions)
    return model.lm_head(out.last_hidden_state), out.attentions


def logits_for(model, ids: torch.Tensor, mask: torch.Tensor, states: torch.Tensor | None) -> torch.Tensor:
    return forward(model, ids, mask, states)[0]


def padded(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.tensor(r)
        mask[b, : len(r)] = 1
    return ids, mask


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", required=True, help="export-rows.ts output directory")
    parser.add_argument("--probe", action="append", default=[], help="match-probe-set.ts output (repeatable)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--decay", choices=["cosine", "constant"], default="cosine")
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--train", default=r"^model\.(multi_modal_projector|language_model)\.|^lm_head\.",
                        help="regex over parameter names: the weights this stage trains")
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="directory to save_pretrained the result to")
    parser.add_argument("--groups", type=int, default=1, help="consecutive rows drawn together (4 for quads)")
    parser.add_argument("--attention-target", help="LAYER,HEAD,WEIGHT: attention loss on rows' fourth field")
    parser.add_argument("model")
    args = parser.parse_args()
    logging.set_verbosity_error()
    torch.manual_seed(args.seed)
    target = [float(x) for x in args.attention_target.split(",")] if args.attention_target else None
    if target and len(target) != 3:
        parser.error("--attention-target wants LAYER,HEAD,WEIGHT")
    if args.batch % args.groups:
        parser.error("--batch must be a multiple of --groups")
    # Eager attention: the only implementation that returns the attention probabilities.
    model = LlavaForConditionalGeneration.from_pretrained(
        args.model, **({"attn_implementation": "eager"} if target else {})
    ).float()
    pad = model.config.text_config.pad_token_id
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    yes_id, no_id = tokenizer.convert_tokens_to_ids(["Yes", "No"])

    size = model.config.vision_config.image_size
    with open(os.path.join(args.model, "preprocessor_config.json")) as f:
        processor = json.load(f)
    mean = torch.tensor(processor["image_mean"]).view(1, 3, 1, 1)
    std = torch.tensor(processor["image_std"]).view(1, 3, 1, 1)
    images = np.fromfile(os.path.join(args.rows, "images.u8"), dtype=np.uint8).reshape(-1, size, size, 3)
    pixels = (torch.from_numpy(images).permute(0, 3, 1, 2).float() * processor["rescale_factor"] - mean) / std
    states = tower_states(model, pixels)
    rows = [json.loads(line) for line in open(os.path.join(args.rows, "rows.jsonl")) if line.strip()]
    probes = []
    for probe_dir in args.probe:
        meta = json.load(open(os.path.join(probe_dir, "rows.json")))
        probe_pixels = torch.from_numpy(np.fromfile(os.path.join(probe_dir, "pixels.f32"), dtype=np.float32))
        probes.append((probe_dir, meta, tower_states(model, probe_pixels.reshape(meta["count"], 3, meta["size"], meta["size"]))))

    def evaluate(step: int) -> None:
        model.eval()
        for probe_dir, meta, probe_states in probes:
            correct = said_yes = 0
            with torch.no_grad():
                for i in range(0, meta["count"], 100):
                    batch = meta["rows"][i : i + 100]
                    ids, mask = padded([r["ids"] for r in batch], pad)
                    logits = logits_for(model, ids, mask, probe_states[i : i + 100])
                    for b, r in enumerate(batch):
                        yes = bool(logits[b, r["answerPosition"], yes_id] > logits[b, r["answerPosition"], no_id])
                        correct += yes == (r["asked"] == r["seen"])
                        said_yes += yes
            print(json.dumps({"eval": "yes_no", "probe": probe_dir, "objects": meta["objects"], "step": step,
                              "accuracy": round(correct / meta["count"], 3),
                              "said_yes": round(said_yes / meta["count"], 3)}), flush=True)
        model.train()

    pattern = re.compile(args.train)
    for name, p in model.named_parameters():
        p.requires_grad = bool(pattern.search(name)) and not name.startswith("model.vision_tower.")
    weights = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(weights, lr=args.lr, betas=(0.9, 0.98), weight_decay=args.weight_decay)
    warmup = math.ceil(args.steps / 20)
    rng = random.Random(args.seed)
    print(json.dumps({"stage": "torch", "rows": len(rows), "trained_weights": sum(p.numel() for p in weights),
                      "threads": torch.get_num_threads()}), flush=True)
    evaluate(0)
    started, losses, attention_losses = time.time(), [], []
    for step in range(args.steps):
        if step < warmup:
            lr = args.lr * (step + 1) / warmup
        elif args.decay == "constant":
            lr = args.lr
        else:
            progress = (step - warmup) / max(1, args.steps - warmup)
            lr = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
        for group in optimizer.param_groups:
            group["lr"] = lr
        starts = rng.sample(range(len(rows) // args.groups), args.batch // args.groups)
        batch = [rows[args.groups * g + j] for g in starts for j in range(args.groups)]
        ids, mask = padded([r[0] for r in batch], pad)
        targets = torch.zeros_like(ids, dtype=torch.bool)
        for b, r in enumerate(batch):
            targets[b, : len(r[1])] = torch.tensor(r[1], dtype=torch.bool)
        scenes = [r[2] for r in batch if r[2] >= 0]
        logits, attentions = forward(model, ids, mask, states[scenes] if scenes else None, target is not None)
        loss = F.cross_entropy(logits[:, :-1][targets[:, 1:]], ids[:, 1:][targets[:, 1:]])
        total = loss
        if target:
            layer, head, weight = int(target[0]), int(target[1]), target[2]
            probs = attentions[layer][:, head]
            terms = []
            for b, r in enumerate(batch):
                if len(r) < 4:
                    continue
                answer = r[1].index(1) - 1
                first_image = r[0].index(model.config.image_token_index)
                cols = [first_image + t for t in r[3]] or [0]
                terms.append(-torch.log(probs[b, answer, cols].sum() + 1e-6))
            if terms:
                attention_loss = torch.stack(terms).mean()
                attention_losses.append(attention_loss.item())
                total = loss + weight * attention_loss
        optimizer.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(weights, 1.0)
        optimizer.step()
        losses.append(loss.item())
        if (step + 1) % args.log_every == 0:
            line = {"stage": "torch", "step": step + 1, "lr": lr, "loss": round(sum(losses) / len(losses), 4)}
            if attention_losses:
                line["attention_loss"] = round(sum(attention_losses) / len(attention_losses), 4)
            print(json.dumps({**line, "seconds": round(time.time() - started, 1)}), flush=True)
            losses, attention_losses = [], []
        if (step + 1) % args.eval_every == 0 and step + 1 < args.steps:
            evaluate(step + 1)
    evaluate(args.steps)
    if args.save:
        model.save_pretrained(args.save)
        tokenizer.save_pretrained(args.save)


if __name__ == "__main__":
    main()
