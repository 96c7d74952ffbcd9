#!/usr/bin/env python3
"""Large quantized checkpoints for bench/dequant.sh, and the numpy baseline it is compared with.

    dequant_numpy.py make DIR SCHEME   writes DIR/config.json + DIR/model.safetensors
    dequant_numpy.py time DIR SCHEME   dequantizes the weight with numpy (vectorized, float32, as
                                       the runtimes compute it) and takes the statistics `analyze
                                       --rank none` reports (float64 mean/std, min, max, zero
                                       count); prints the best wall time of REPS runs in seconds

SCHEME: `gptq4` (auto-gptq v1 layout, 4-bit, group 128, [11008, 4096]) or `fp8block` (DeepSeek
style E4M3 with 128 x 128 `weight_scale_inv`, [11008, 4096]). Only numpy is needed; the
safetensors file is written directly (8-byte header length, JSON header, data).
"""
import json
import os
import sys
import time

import numpy as np

OUT, IN, GS = 11008, 4096, 128
REPS = int(os.environ.get("REPS", "3"))


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, (dtype, array) in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    mm = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    dtypes = {"I32": np.int32, "F16": np.float16, "F32": np.float32, "U8": np.uint8, "F8_E4M3": np.uint8}
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        out[name] = mm[a:b].view(dtypes[h["dtype"]]).reshape(h["shape"])
    return out


def e4m3_table():
    """float32 value of every E4M3FN byte (bias 7, no infinities, 0x7F/0xFF NaN)."""
    b = np.arange(256)
    sign = np.where(b & 0x80, -1.0, 1.0)
    e, m = (b >> 3) & 0xF, b & 7
    v = np.where(e == 0, m / 8.0 * 2.0 ** -6, (1 + m / 8.0) * 2.0 ** (e - 7.0))
    v = np.where((b & 0x7F) == 0x7F, np.nan, v)
    return (sign * v).astype(np.float32)


def make(d, scheme):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(0)
    m = "model.layers.0.mlp.up_proj"
    if scheme == "gptq4":
        q = rng.integers(0, 16, size=(IN, OUT), dtype=np.uint32)
        shifts = (np.arange(8, dtype=np.uint32) * 4)[None, :, None]
        qweight = (q.reshape(IN // 8, 8, OUT) << shifts).sum(1, dtype=np.uint32).view(np.int32)
        z = rng.integers(1, 16, size=(IN // GS, OUT), dtype=np.uint32) - 1  # v1 stores zero - 1
        qzeros = (z.reshape(IN // GS, OUT // 8, 8) << (np.arange(8, dtype=np.uint32) * 4)).sum(2, dtype=np.uint32)
        scales = (rng.random((IN // GS, OUT)) * 0.01 + 0.001).astype(np.float16)
        g_idx = (np.arange(IN) // GS).astype(np.int32)
        write_safetensors(os.path.join(d, "model.safetensors"), {
            m + ".qweight": ("I32", qweight), m + ".qzeros": ("I32", qzeros.view(np.int32)),
            m + ".scales": ("F16", scales), m + ".g_idx": ("I32", g_idx),
        })
        cfg = {"quant_method": "gptq", "bits": 4, "group_size": GS, "desc_act": False, "sym": False}
    else:
        w = rng.integers(0, 256, size=(OUT, IN), dtype=np.uint8)
        w[(w & 0x7F) == 0x7F] = 0  # no NaN codes
        inv = (rng.random((OUT // 128 + (OUT % 128 > 0), IN // 128)) * 0.01).astype(np.float32)
        write_safetensors(os.path.join(d, "model.safetensors"), {m + ".weight": ("F8_E4M3", w),
                                                                m + ".weight_scale_inv": ("F32", inv)})
        cfg = {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"model_type": "llama", "quantization_config": cfg}, f)


def dequantize(t, scheme):
    m = "model.layers.0.mlp.up_proj"
    if scheme == "gptq4":
        qw = np.asarray(t[m + ".qweight"]).view(np.uint32)
        shifts = (np.arange(8, dtype=np.uint32) * 4)[None, :, None]
        q = ((qw[:, None, :] >> shifts) & 0xF).reshape(IN, OUT)
        qz = np.asarray(t[m + ".qzeros"]).view(np.uint32)
        z = ((qz[:, :, None] >> (np.arange(8, dtype=np.uint32) * 4)) & 0xF).reshape(IN // GS, OUT) + 1
        g = np.asarray(t[m + ".g_idx"])
        s = np.asarray(t[m + ".scales"]).astype(np.float32)
        return (s[g] * (q.astype(np.float32) - z[g].astype(np.float32))).T  # logical [out, in]
    w = e4m3_table()[np.asarray(t[m + ".weight"])]
    inv = np.asarray(t[m + ".weight_scale_inv"])
    full = np.repeat(np.repeat(inv, 128, axis=0)[:OUT], 128, axis=1)[:, :IN]
    return w * full


def timed(d, scheme):
    best = None
    for _ in range(REPS):
        t0 = time.perf_counter()
        w = dequantize(read_safetensors(os.path.join(d, "model.safetensors")), scheme)
        stats = (w.mean(dtype=np.float64), w.std(dtype=np.float64), w.min(), w.max(), int((w == 0).sum()))
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    print(f"{best:.3f}")
    print(f"numpy {scheme}: mean {stats[0]:.6g} std {stats[1]:.6g}", file=sys.stderr)


if __name__ == "__main__":
    verb, d, scheme = sys.argv[1:4]
    {"make": make, "time": timed}[verb](d, scheme)
