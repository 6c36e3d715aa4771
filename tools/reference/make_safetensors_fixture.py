#!/usr/bin/env python3
"""Writes the safetensors fixtures that test/trainer/engine/safetensors.test.ts reads.

Output (default test/fixtures/safetensors/):
  all_dtypes.safetensors   one tensor per dtype, written by the `safetensors` library, with __metadata__
  all_dtypes.json          the expected values (and, for F16/BF16, the float32 sources the library rounded)
  sharded/                 a two-shard checkpoint plus model.safetensors.index.json, written by
                           huggingface_hub.save_torch_state_dict as save_pretrained does

Usage: python tools/reference/make_safetensors_fixture.py [--out DIR]
"""

import argparse
import json
import math
import os

import torch
from huggingface_hub import save_torch_state_dict
from safetensors.torch import save_file

METADATA = {"format": "pt", "producer": "tools/reference/make_safetensors_fixture.py"}

# float32 sources for the half-precision tensors: ordinary values, ties, subnormals, overflow, specials.
HALF_SOURCES = [
    0.0,
    -0.0,
    1.0,
    -2.5,
    0.1,
    1.0 / 3.0,
    65504.0,  # largest finite f16
    65520.0,  # rounds to f16 infinity
    6.103515625e-05,  # smallest normal f16
    5.960464477539063e-08,  # smallest subnormal f16
    2.9802322387695312e-08,  # half of it: ties to even -> 0 in f16
    1.0009765625,  # 1 + 2^-10
    1.00048828125,  # 1 + 2^-11: f16 tie -> 1.0
    1.00146484375,  # 1 + 3 * 2^-11: f16 tie -> 1 + 2^-9
    1.00390625,  # 1 + 2^-8: bf16 tie -> 1.0
    1.01171875,  # 1 + 3 * 2^-8: bf16 tie -> 1 + 2^-6
    3.0e38,
    1.0e-40,  # float32 subnormal
    float("inf"),
    float("-inf"),
    float("nan"),
    123.456,
    -7.0e-3,
    1.0e5,
]


def encode_float(x: float):
    """JSON cannot hold NaN or infinities; write them as strings."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def make_all_dtypes(out_dir: str) -> None:
    g = torch.Generator().manual_seed(1234)
    src32 = torch.tensor(HALF_SOURCES, dtype=torch.float32)
    tensors = {
        "f64": torch.randn(2, 3, generator=g, dtype=torch.float64),
        "f32": torch.randn(3, 5, generator=g, dtype=torch.float32),
        "f32_scalar": torch.tensor(3.25, dtype=torch.float32),
        "f32_empty": torch.zeros(0, 3, dtype=torch.float32),
        "f16": src32.to(torch.float16),
        "bf16": src32.to(torch.bfloat16),
        "i64": torch.tensor([0, 1, -1, 2**53 + 1, -(2**62), 2**63 - 1], dtype=torch.int64),
        "i32": torch.tensor([[0, -1, 2**31 - 1], [-(2**31), 7, 42]], dtype=torch.int32),
        "i16": torch.tensor([0, -1, 32767, -32768, 300], dtype=torch.int16),
        "i8": torch.tensor([0, -1, 127, -128, 5], dtype=torch.int8),
        "u8": torch.tensor([0, 1, 128, 255, 7], dtype=torch.uint8),
        "bool": torch.tensor([[True, False, True], [False, False, True]], dtype=torch.bool),
    }
    path = os.path.join(out_dir, "all_dtypes.safetensors")
    save_file(tensors, path, metadata=METADATA)

    expected = {"metadata": METADATA, "half_sources_f32": [encode_float(x) for x in src32.tolist()], "tensors": {}}
    for name, t in tensors.items():
        entry = {"shape": list(t.shape)}
        if t.dtype in (torch.float16, torch.bfloat16):
            entry["dtype"] = "F16" if t.dtype == torch.float16 else "BF16"
            entry["bits"] = t.view(torch.int16).to(torch.int32).bitwise_and(0xFFFF).flatten().tolist()
            entry["as_f32"] = [encode_float(x) for x in t.to(torch.float32).flatten().tolist()]
        elif t.dtype == torch.int64:
            entry["dtype"] = "I64"
            entry["values"] = [str(x) for x in t.flatten().tolist()]  # beyond 2^53: strings
        elif t.dtype == torch.bool:
            entry["dtype"] = "BOOL"
            entry["values"] = [int(x) for x in t.flatten().tolist()]
        else:
            entry["dtype"] = {
                torch.float64: "F64",
                torch.float32: "F32",
                torch.int32: "I32",
                torch.int16: "I16",
                torch.int8: "I8",
                torch.uint8: "U8",
            }[t.dtype]
            entry["values"] = [encode_float(x) if isinstance(x, float) else x for x in t.flatten().tolist()]
        expected["tensors"][name] = entry
    with open(os.path.join(out_dir, "all_dtypes.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


def make_sharded(out_dir: str) -> None:
    g = torch.Generator().manual_seed(99)
    state = {
        "embed.weight": torch.randn(16, 8, generator=g),
        "layers.0.weight": torch.randn(8, 8, generator=g),
        "layers.0.bias": torch.randn(8, generator=g),
        "layers.1.weight": torch.randn(8, 8, generator=g).to(torch.bfloat16),
        "head.weight": torch.randn(4, 8, generator=g).to(torch.float16),
        "step": torch.tensor([7], dtype=torch.int64),
    }
    shard_dir = os.path.join(out_dir, "sharded")
    os.makedirs(shard_dir, exist_ok=True)
    for f in os.listdir(shard_dir):
        os.remove(os.path.join(shard_dir, f))
    save_torch_state_dict(state, shard_dir, max_shard_size=600, metadata={"format": "pt"})
    expected = {name: {"shape": list(t.shape), "as_f64": t.to(torch.float64).flatten().tolist()} for name, t in state.items()}
    with open(os.path.join(out_dir, "sharded.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="test/fixtures/safetensors")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    make_all_dtypes(args.out)
    make_sharded(args.out)
    print(json.dumps({"wrote": sorted(os.listdir(args.out)), "shards": sorted(os.listdir(os.path.join(args.out, "sharded")))}))


if __name__ == "__main__":
    main()
