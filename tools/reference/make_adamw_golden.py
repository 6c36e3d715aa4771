#!/usr/bin/env python3
"""Records torch.optim.AdamW on a fixed quadratic as the golden for test/trainer/engine/adamw.test.ts.

Problem (float32): two parameters, W [3, 4] and b [5], with fixed positive curvatures A_* and centres C_*:

    loss = sum(0.5 * A_W * (W - C_W)^2) + sum(0.5 * A_b * (b - C_b)^2)
    grad_W = A_W * (W - C_W),  grad_b = A_b * (b - C_b)

For each case, ten steps of: loss and grads at the current parameters (recorded), optional
torch.nn.utils.clip_grad_norm_ (pre-clip norm and post-clip grads recorded), optimizer.step()
(parameters after the step recorded). The final AdamW state (step, exp_avg, exp_avg_sq) is recorded too.
The grads are computed in closed form (not autograd) so the TypeScript side can reproduce them exactly.

Output: test/fixtures/adamw/golden.json (all float32 values written as the exact double they equal).
Usage: python tools/reference/make_adamw_golden.py [--out FILE]
"""

import argparse
import json
import os

import torch

CASES = [
    {"name": "defaults_wd", "lr": 1e-2, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 1e-2, "clip": None},
    {"name": "no_decay", "lr": 3e-2, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "clip": None},
    {"name": "clip_strong_decay", "lr": 5e-2, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.1, "clip": 0.5},
]
STEPS = 10


def problem():
    g = torch.Generator().manual_seed(2024)
    p = {
        "W": torch.randn(3, 4, generator=g),
        "b": torch.randn(5, generator=g),
    }
    a = {k: torch.rand(v.shape, generator=g) * 2 + 0.1 for k, v in p.items()}
    c = {k: torch.randn(v.shape, generator=g) for k, v in p.items()}
    return p, a, c


def flat(t: torch.Tensor) -> list:
    return t.detach().to(torch.float32).flatten().tolist()


def run_case(case: dict) -> dict:
    p0, a, c = problem()
    params = {k: torch.nn.Parameter(v.clone()) for k, v in p0.items()}
    opt = torch.optim.AdamW(
        list(params.values()),
        lr=case["lr"],
        betas=tuple(case["betas"]),
        eps=case["eps"],
        weight_decay=case["weight_decay"],
        amsgrad=False,
        foreach=False,
    )
    steps = []
    for _ in range(STEPS):
        with torch.no_grad():
            diffs = {k: params[k] - c[k] for k in params}
            loss = sum((0.5 * a[k] * diffs[k] * diffs[k]).sum() for k in params)
            for k in params:
                params[k].grad = a[k] * diffs[k]
        record = {"loss": float(loss), "grads": {k: flat(params[k].grad) for k in params}}
        if case["clip"] is not None:
            norm = torch.nn.utils.clip_grad_norm_(list(params.values()), case["clip"])
            record["grad_norm"] = float(norm)
            record["clipped_grads"] = {k: flat(params[k].grad) for k in params}
        opt.step()
        record["params_after"] = {k: flat(params[k]) for k in params}
        steps.append(record)
    state = [opt.state[params[k]] for k in params]
    return {
        **case,
        "steps": steps,
        "final_state": {
            "step": int(state[0]["step"]),
            "m": [flat(s["exp_avg"]) for s in state],
            "v": [flat(s["exp_avg_sq"]) for s in state],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="test/fixtures/adamw/golden.json")
    args = parser.parse_args()
    p0, a, c = problem()
    golden = {
        "torch_version": torch.__version__,
        "param_order": list(p0.keys()),
        "shapes": {k: list(v.shape) for k, v in p0.items()},
        "init": {k: flat(v) for k, v in p0.items()},
        "curvature": {k: flat(v) for k, v in a.items()},
        "centre": {k: flat(v) for k, v in c.items()},
        "cases": [run_case(case) for case in CASES],
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(golden, f)
        f.write("\n")
    print(json.dumps({"wrote": args.out, "cases": [c["name"] for c in CASES], "steps": STEPS}))


if __name__ == "__main__":
    main()
