#!/usr/bin/env python3
"""The seed's Python flow, as a baseline: every tensor decoded to float64 with numpy, statistics,
and the numerical rank from numpy's f64 singular values of the full rows x cols matrix.

Usage: python_flow.py MODEL_FILE   (.safetensors or .gguf); prints the tensor count on stdout.
"""
import sys

import numpy as np

ZERO_EPS = 1e-8
RANK_RTOL = 1e-6


def tensors(path):
    if path.endswith(".gguf"):
        from gguf import GGUFReader
        from gguf.quants import dequantize
        for t in GGUFReader(path).tensors:
            shape = tuple(reversed([int(d) for d in t.shape]))
            yield t.name, dequantize(t.data, t.tensor_type).reshape(shape)
    else:
        yield from safetensors_tensors(path)


def safetensors_tensors(path):
    """safetensors.numpy, except for BF16 (which numpy lacks): widened to float32 exactly."""
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    if not any(v.get("dtype") == "BF16" for k, v in header.items() if k != "__metadata__"):
        from safetensors.numpy import load_file
        yield from load_file(path).items()
        return
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    for name, v in header.items():
        if name == "__metadata__":
            continue
        a, b = v["data_offsets"]
        if v["dtype"] == "BF16":
            x = (raw[a:b].view("<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            x = raw[a:b].view(np.dtype(v["dtype"].replace("F", "<f").replace("32", "4").replace("16", "2")))
        yield name, x.reshape(v["shape"])


def analyze(x):
    x64 = np.asarray(x, dtype=np.float64)
    row = {"mean": x64.mean(), "std": x64.std(), "var": x64.var(), "min": x64.min(), "max": x64.max(),
           "sparsity": float((np.abs(x64) <= ZERO_EPS).sum()) / max(x64.size, 1)}
    if x64.ndim >= 2 and x64.size and np.isfinite(x64).all():
        m = x64.reshape(x64.shape[0], -1)
        s = np.linalg.svd(m, compute_uv=False)
        row["rank"] = int((s > RANK_RTOL * s.max()).sum()) if s.max() > 0 else 0
    return row


if __name__ == "__main__":
    n = 0
    for name, x in tensors(sys.argv[1]):
        analyze(x)
        n += 1
    print(n)
