"""Linear probe of a toy CLIP vision tower: does its last hidden state carry each attribute?

For held-out single-object scenes (written by trainer/toyworld/train/probe-set.ts), fits one linear
classifier per attribute on the patch tokens whose centres lie in the object's box (80% of the scenes),
then predicts each remaining scene by summing the softmax over its box's patches. Prints one JSON line per
(model, attribute). This is what showed that the tower, not the LLaVA, was why shape went unanswered.

    npx tsx trainer/toyworld/train/probe-set.ts --out /tmp/probe-set
    python tools/reference/probe_toy_tower.py --set /tmp/probe-set trainer/toyworld/models/toy-clip [...]
"""

import argparse
import json
import os

import numpy as np
import torch
from transformers import CLIPVisionModel
from transformers.utils import logging

ATTRIBUTES = ("shape", "colour", "pattern", "mark")
GRID = 8  # 64x64 images, 8-pixel patches
STEPS = 500  # full-batch Adam steps per probe


def patches_in_box(box: dict) -> list[int]:
    out = []
    for r in range(GRID):
        for c in range(GRID):
            x, y = (c + 0.5) / GRID, (r + 0.5) / GRID
            if box["x0"] <= x < box["x1"] and box["y0"] <= y < box["y1"]:
                out.append(r * GRID + c)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", required=True)
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    logging.set_verbosity_error()
    torch.manual_seed(0)
    meta = json.load(open(os.path.join(args.set, "labels.json")))
    n, labels = meta["count"], meta["labels"]
    pixels = torch.from_numpy(np.fromfile(os.path.join(args.set, "pixels.f32"), dtype=np.float32))
    pixels = pixels.reshape(n, 3, meta["size"], meta["size"])
    in_box = torch.zeros(n, GRID * GRID, dtype=torch.bool)
    for i, label in enumerate(labels):
        in_box[i, patches_in_box(label["box"])] = True
    train = int(n * 0.8)
    for model_dir in args.models:
        tower = CLIPVisionModel.from_pretrained(model_dir).eval()
        with torch.no_grad():
            states = torch.cat(
                [tower(pixel_values=pixels[i : i + 250]).last_hidden_state for i in range(0, n, 250)]
            )[:, 1:]
        states = (states - states.mean((0, 1))) / (states.std((0, 1)) + 1e-5)
        for attribute in ATTRIBUTES:
            values = sorted({label[attribute] for label in labels})
            y = torch.tensor([values.index(label[attribute]) for label in labels])
            x_train = states[:train][in_box[:train]]
            y_train = y[:train].unsqueeze(1).expand(-1, GRID * GRID)[in_box[:train]]
            probe = torch.nn.Linear(states.shape[-1], len(values))
            optimizer = torch.optim.Adam(probe.parameters(), lr=1e-2)
            for _ in range(STEPS):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(probe(x_train), y_train)
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                votes = (torch.softmax(probe(states[train:]), -1) * in_box[train:, :, None]).sum(1)
                accuracy = (votes.argmax(1) == y[train:]).float().mean().item()
            print(
                json.dumps(
                    {
                        "probe": "toy_tower",
                        "model": model_dir,
                        "attribute": attribute,
                        "accuracy": round(accuracy, 3),
                        "uniform_chance": round(1 / len(values), 3),
                        "n": n - train,
                        "train_loss": round(loss.item(), 3),
                    }
                )
            )


if __name__ == "__main__":
    main()
