#!/usr/bin/env python3
"""Writes the synthetic large inputs of the benchmark as safetensors files.

Usage: make_large.py OUT_DIR
  writes square.safetensors (one 4096x4096 BF16 matrix) and rect.safetensors (one 4096x11008
  BF16 matrix). `bench/run.py` imports `write_safetensors`, `random_matrix` and `LLAMA2_7B_LAYER`
  for its other inputs (stats files of each float dtype, two layers of Llama-2-7B shapes).
"""
import json
import os
import struct
import sys

import numpy as np

# The matrices of one Llama-2-7B decoder layer (name, shape), as the checkpoint stores them.
LLAMA2_7B_LAYER = [
    ("self_attn.q_proj.weight", (4096, 4096)),
    ("self_attn.k_proj.weight", (4096, 4096)),
    ("self_attn.v_proj.weight", (4096, 4096)),
    ("self_attn.o_proj.weight", (4096, 4096)),
    ("mlp.gate_proj.weight", (11008, 4096)),
    ("mlp.up_proj.weight", (11008, 4096)),
    ("mlp.down_proj.weight", (4096, 11008)),
]


def random_matrix(shape, seed):
    """Normal values of scale 0.02 (a typical weight init) as float32."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)


def encode(x, dtype):
    """The little-endian bytes of float32 `x` stored as `dtype` (F32, F16, BF16)."""
    if dtype == "F32":
        return x.astype("<f4").tobytes()
    if dtype == "F16":
        return x.astype("<f2").tobytes()
    # BF16 = the high 16 bits of the f32, rounded to nearest even.
    bits = x.astype(np.float32).view(np.uint32)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return bits.astype("<u2").tobytes()


def write_safetensors(path, tensors):
    """Writes `tensors`: a list of (name, dtype, shape, bytes-producing callable), streamed one
    tensor at a time so that a file of several GiB never sits in memory."""
    header, offset = {}, 0
    for name, dtype, shape, _ in tensors:
        size = int(np.prod(shape)) * (4 if dtype == "F32" else 2)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name, dtype, shape, make in tensors:
            data = make()
            if len(data) != header[name]["data_offsets"][1] - header[name]["data_offsets"][0]:
                raise ValueError(f"{name}: wrong byte count")
            f.write(data)
    os.replace(tmp, path)


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for file, name, shape, seed in [
        ("square", "model.layers.0.self_attn.q_proj.weight", (4096, 4096), 1),
        ("rect", "model.layers.0.mlp.up_proj.weight", (4096, 11008), 2),
    ]:
        write_safetensors(os.path.join(out, file + ".safetensors"),
                          [(name, "BF16", shape, lambda s=shape, k=seed: encode(random_matrix(s, k), "BF16"))])
