#!/usr/bin/env python3
"""Writes the synthetic large case of the benchmark: BF16 safetensors files with random
matrices of LLM shapes. Usage: make_large.py OUT_DIR  (writes square.safetensors with one
4096x4096 matrix and rect.safetensors with one 4096x11008 matrix)."""
import json
import os
import struct
import sys

import numpy as np


def write_bf16(path, name, shape, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
    # BF16 = the high 16 bits of the f32 (round to nearest even).
    bits = x.view(np.uint32)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    data = bits.astype("<u2").tobytes()
    header = json.dumps({name: {"dtype": "BF16", "shape": list(shape), "data_offsets": [0, len(data)]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        f.write(data)


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    write_bf16(os.path.join(out, "square.safetensors"), "model.layers.0.self_attn.q_proj.weight", (4096, 4096), 1)
    write_bf16(os.path.join(out, "rect.safetensors"), "model.layers.0.mlp.up_proj.weight", (4096, 11008), 2)
