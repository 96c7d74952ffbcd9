#!/usr/bin/env python3
"""CPU dequantization throughput of the libraries that write each quantized safetensors scheme,
on the same tensors `bench/criterion/dequant` (`cargo bench --bench quant`) times: the first quantized
weight of each `fixtures/quant/` checkpoint. Prints GB/s of float32 output per scheme, one thread.

Needs a venv with torch (CPU) and, per scheme, its library: compressed-tensors, transformers,
bitsandbytes, auto-gptq (pure-torch QuantLinear), autoawq, mlx. A scheme whose library is missing
is reported as such, never timed with a stand-in.

    python3 -m venv /tmp/quant-bench && /tmp/quant-bench/bin/pip install torch --index-url \
        https://download.pytorch.org/whl/cpu && /tmp/quant-bench/bin/pip install safetensors \
        compressed-tensors transformers bitsandbytes
    /tmp/quant-bench/bin/python bench/quant_torch.py
"""
import json
import os
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "quant")
REPS = 20


def load(directory):
    from safetensors.torch import load_file

    index = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(index):
        tensors = {}
        for shard in sorted(set(json.load(open(index))["weight_map"].values())):
            tensors.update(load_file(os.path.join(directory, shard)))
        return tensors
    return load_file(os.path.join(directory, "model.safetensors"))


def first_quantized(name):
    ref = json.load(open(os.path.join(ROOT, "reference", name + ".json")))
    return next(t for t in ref["tensors"] if t.get("quant_scheme"))


def dequantizer(scheme, t, cfg, tensors):
    """A no-argument function running the writing library's own dequantization of `t`."""
    import torch

    c = t["components"]
    if scheme.startswith("ct-"):
        from compressed_tensors.compressors import BaseCompressor
        from compressed_tensors.quantization import QuantizationArgs

        q = cfg["quantization_config"]
        group = next(iter(q["config_groups"].values()))
        args = QuantizationArgs(**group["weights"])
        compressor = BaseCompressor.load_from_registry(group.get("format") or q["format"], config=None)
        prefix = t["name"].rsplit(".", 1)[0] + "."
        data = {k[len(prefix):]: tensors[k] for k in c}
        return lambda: compressor.decompress_weight(data, quantization_args=args)
    if scheme == "fp8-block":
        from transformers.integrations.finegrained_fp8 import _dequantize_fp8_weight

        block = cfg["quantization_config"]["weight_block_size"]
        w, s = tensors[c[0]], tensors[c[1]]
        return lambda: _dequantize_fp8_weight(w, s, block, torch.float32)
    if scheme.startswith("bnb-4") or scheme in ("bnb-nf4", "bnb-fp4"):
        import bitsandbytes.functional as F

        prefix = c[0]
        state = F.QuantState.from_dict({k[len(prefix) + 1:]: tensors[k] for k in c[1:]}, device="cpu")
        state.dtype = torch.float32
        w = tensors[c[0]]
        return lambda: F.dequantize_4bit(w, state)
    if scheme == "bnb-int8":
        import bitsandbytes.functional as F

        w, scb = tensors[c[0]], tensors[c[1]]
        return lambda: F.int8_vectorwise_dequant(w, scb)
    if scheme == "mxfp4":
        from transformers.integrations.mxfp4 import convert_moe_packed_tensors

        b, s = tensors[c[0]], tensors[c[1]]
        return lambda: convert_moe_packed_tensors(b, s, dtype=torch.float32)
    if scheme == "awq-gemm":
        from awq.utils.packing_utils import dequantize_gemm

        gs = cfg["quantization_config"]["group_size"]
        qw, qz, sc = (tensors[k] for k in c)
        return lambda: dequantize_gemm(qw, qz, sc.float(), 4, gs)
    raise ImportError(f"no timing harness for {scheme} (its library's dequantization runs on a GPU or is not importable here)")


def main():
    import torch

    torch.set_num_threads(1)
    print(f"{'fixture':<28} {'scheme':<24} {'GB/s':>10}")
    for name in sorted(os.listdir(ROOT)):
        directory = os.path.join(ROOT, name)
        if name == "reference" or not os.path.isdir(directory):
            continue
        t = first_quantized(name)
        scheme = t["quant_scheme"]
        try:
            cfg = json.load(open(os.path.join(directory, "config.json")))
            run = dequantizer(scheme, t, cfg, load(directory))
            run()
            start = time.perf_counter()
            for _ in range(REPS):
                out = run()
            secs = (time.perf_counter() - start) / REPS
            print(f"{name:<28} {scheme:<24} {out.numel() * 4 / secs / 1e9:>10.3f}")
        except ImportError as e:
            print(f"{name:<28} {scheme:<24} {'-':>10}  ({e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
