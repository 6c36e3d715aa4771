"""Probe of a toy LLaVA's yes/no recognition: what its states at the answer position carry.

Reads the set trainer/toyworld/train/match-probe-set.ts writes ("Is there a {colour} {shape} in this
photo?" on held-out scenes) and, for each hidden state of the LLM at the position that predicts the first
answer token, fits linear probes (first 2/3 of the set, scored on the rest) for
  asked  the colour the question names,
  seen   the colour of the named shape in the picture,
  match  whether the two are the same (the yes/no answer).
Then, on the input of the last layer's MLP, a one-hidden-layer SiLU MLP probe for match, twice: on
standardised states (mean removed per dimension) and on RMS-normalised states (the layer's RMSNorm without
its learned gains, close to what its MLP sees), with the norm of the part every row shares next to the
norm of the part that varies. One JSON line per figure.

    npx tsx trainer/toyworld/train/match-probe-set.ts --out /tmp/match-probe
    python tools/reference/probe_toy_llava_match.py --set /tmp/match-probe trainer/toyworld/models/toy-llava
"""

import argparse
import json
import os

import numpy as np
import torch
from transformers import AutoTokenizer, LlavaForConditionalGeneration
from transformers.utils import logging

from train_toy_llava_torch import padded  # the same right-padded ids and mask as the stage's peer

LINEAR_STEPS = 300  # LBFGS iterations per linear probe
MLP_STEPS = 1500  # full-batch AdamW steps of the MLP probe
MLP_HIDDEN = 512  # the toy LLM's intermediate size


def linear_probe(x: torch.Tensor, y: torch.Tensor, train: int) -> float:
    x = (x - x[:train].mean(0)) / (x[:train].std(0) + 1e-6)
    classes = int(y.max()) + 1
    w = torch.zeros(x.shape[1], classes, requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], max_iter=LINEAR_STEPS)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x[:train] @ w + b, y[:train]) + 1e-3 * w.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return ((x[train:] @ w + b).argmax(1) == y[train:]).float().mean().item()


def mlp_probe(x: torch.Tensor, y: torch.Tensor, train: int) -> tuple[float, float]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], MLP_HIDDEN), torch.nn.SiLU(), torch.nn.Linear(MLP_HIDDEN, 2)
    )
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.05)
    for _ in range(MLP_STEPS):
        loss = torch.nn.functional.cross_entropy(net(x[:train]), y[:train])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return (net(x[train:]).argmax(1) == y[train:]).float().mean().item(), loss.item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", required=True)
    parser.add_argument("model")
    args = parser.parse_args()
    logging.set_verbosity_error()
    torch.set_num_threads(max(1, (os.cpu_count() or 2)))
    meta = json.load(open(os.path.join(args.set, "rows.json")))
    rows, n, size = meta["rows"], meta["count"], meta["size"]
    pixels = torch.from_numpy(np.fromfile(os.path.join(args.set, "pixels.f32"), dtype=np.float32))
    pixels = pixels.reshape(n, 3, size, size)
    model = LlavaForConditionalGeneration.from_pretrained(args.model).float().eval()
    last = model.model.language_model.layers[-1]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    yes_id, no_id = tokenizer.convert_tokens_to_ids(["Yes", "No"])
    states, mlp_inputs, said_yes = [], [], []
    captured = {}
    hook = last.post_attention_layernorm.register_forward_hook(
        lambda _m, inputs, _o: captured.__setitem__("x", inputs[0])
    )
    with torch.no_grad():
        for i in range(0, n, 100):
            batch = rows[i : i + 100]
            ids, mask = padded([r["ids"] for r in batch], model.config.text_config.pad_token_id)
            out = model(
                input_ids=ids,
                attention_mask=mask,
                pixel_values=pixels[i : i + 100],
                output_hidden_states=True,
            )
            at = torch.arange(len(batch))
            pos = torch.tensor([r["answerPosition"] for r in batch])
            states.append(torch.stack([h[at, pos] for h in out.hidden_states], 1))
            mlp_inputs.append(captured["x"][at, pos])
            said_yes.append(out.logits[at, pos, yes_id] > out.logits[at, pos, no_id])
    hook.remove()
    states = torch.cat(states)
    mlp_input = torch.cat(mlp_inputs)
    asked = torch.tensor([r["asked"] for r in rows])
    seen = torch.tensor([r["seen"] for r in rows])
    match = (asked == seen).long()
    train = n * 2 // 3
    common = {"probe": "toy_llava_match", "model": args.model, "objects": meta["objects"], "n_test": n - train}
    said_yes = torch.cat(said_yes)
    print(json.dumps({**common, "kind": "model_answer", "accuracy": round((said_yes.long() == match)[train:].float().mean().item(), 3),
                      "said_yes": round(said_yes[train:].float().mean().item(), 3)}))
    for layer in range(states.shape[1]):
        figures = {k: round(linear_probe(states[:, layer], y, train), 3) for k, y in
                   (("asked", asked), ("seen", seen), ("match", match))}
        print(json.dumps({**common, "state": f"hidden_states[{layer}]", "kind": "linear", **figures,
                          "chance_colour": round(1 / len(meta["colours"]), 3)}))
    x = mlp_input
    for name, normalised in (
        ("standardised", (x - x[:train].mean(0)) / (x[:train].std(0) + 1e-6)),
        ("rms_normalised", x / x.pow(2).mean(-1, keepdim=True).sqrt()),
    ):
        accuracy, loss = mlp_probe(normalised, match, train)
        print(json.dumps({
            **common, "state": "last layer MLP input", "kind": f"mlp_{name}", "match": round(accuracy, 3),
            "train_loss": round(loss, 4),
            "shared_norm": round(normalised[:train].mean(0).norm().item(), 2),
            "varying_norm": round(normalised[:train].std(0).norm().item(), 2),
        }))


if __name__ == "__main__":
    main()
