#!/usr/bin/env python3
"""CPU dequantization throughput of the libraries that write each quantized safetensors scheme,
on the same tensors `bench/criterion/dequant` (`cargo bench --bench quant`) times: the first quantized
weight of each `fixtures/quant/` checkpoint. Prints GB/s of float32 output (numel * 4 bytes, whatever
dtype the library returns) per scheme, one thread, the best of 50 runs.

Needs a venv with torch (CPU) and, per scheme, its library: compressed-tensors, transformers,
bitsandbytes, autoawq, mlx (`mlx[cpu]`). `bench/quant.sh` builds it (PyPI's torch wheel; this bench
only, never CI). GPTQ has no importable CPU dequantization here (auto-gptq and GPTQModel need their
compiled extensions): its row is the torch formula of GPTQModel's `dequantize_weight`
(`gptqmodel/nn_modules/qlinear/__init__.py`, `PackableQuantLinear`), labelled as such. A scheme
without either is reported as such, never timed with a stand-in.

    bench/quant.sh                       # both benchmarks and the ratios
    bench/.venv-quant/bin/python bench/quant_torch.py
"""
import json
import os
import sys
import time

# One core: the libraries' native code (OpenMP in torch and bitsandbytes) must not fan out.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "quant")
REPS = 50


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
        from compressed_tensors.quantization import QuantizationScheme

        q = cfg["quantization_config"]
        group = dict(next(iter(q["config_groups"].values())))
        group.setdefault("format", q.get("format"))
        quant = QuantizationScheme(**group)
        compressor = BaseCompressor.get_value_from_registry(quant.format)
        prefix = t["name"].rsplit(".", 1)[0] + "."
        data = {k[len(prefix):]: tensors[k] for k in c}
        return lambda: compressor.decompress(data, quant)["weight"]
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
    if scheme == "mlx-affine":
        import mlx.core as mx

        mx.set_default_device(mx.cpu)
        q = cfg.get("quantization") or cfg["quantization_config"]
        w, sc, bi = (mx.array(tensors[k].numpy()) for k in c)
        return lambda: mlx_eval(mx, mx.dequantize(w, sc, bi, group_size=q["group_size"], bits=q["bits"]))
    if scheme == "gptq":
        return gptq_formula(t, cfg, tensors)
    raise ImportError(f"no timing harness for {scheme} (its library's dequantization runs on a GPU or is not importable here)")


def timed(scheme):
    """What the row of `scheme` times: the library, its version and its function."""
    from importlib.metadata import version

    for prefix, package, function in (
        ("ct-", "compressed-tensors", "Compressor.decompress"),
        ("fp8-block", "transformers", "_dequantize_fp8_weight"),
        ("bnb-int8", "bitsandbytes", "int8_vectorwise_dequant"),
        ("bnb-", "bitsandbytes", "dequantize_4bit"),
        ("mxfp4", "transformers", "convert_moe_packed_tensors"),
        ("awq-gemm", "autoawq", "dequantize_gemm"),
        ("mlx-", "mlx", "dequantize"),
        ("gptq", "gptqmodel", "dequantize_weight"),
    ):
        if scheme.startswith(prefix):
            if package == "gptqmodel":
                return "torch formula of GPTQModel " + function
            return f"{package} {version(package)} {function}"
    return ""


def mlx_eval(mx, out):
    mx.eval(out)
    return out


def gptq_formula(t, cfg, tensors):
    """The torch formula of GPTQModel's `PackableQuantLinear.dequantize_weight` (2/4/8 bits):
    shift each int32 by `wf = range(0, 32, bits)`, mask, `scales[g_idx] * (w - zeros[g_idx])`,
    zeros plus one in checkpoint format v1."""
    import torch

    q = cfg["quantization_config"]
    bits = q["bits"]
    if bits not in (2, 4, 8):
        raise ImportError(f"no torch formula for {bits}-bit GPTQ (the library packs 3 bits across words)")
    names = t["components"]
    qweight, qzeros, scales = (tensors[k] for k in names[:3])
    g_idx = tensors[names[3]].long() if len(names) > 3 else None
    v1 = q.get("checkpoint_format", "gptq") != "gptq_v2"
    wf = torch.arange(0, 32, bits, dtype=torch.int32).unsqueeze(0)
    maxq = 2**bits - 1
    scales = scales.float()
    inputs = qweight.shape[0] * 32 // bits
    if g_idx is None:
        gs = q["group_size"] if q["group_size"] > 0 else inputs
        g_idx = torch.arange(inputs) // gs

    def run():
        zeros = torch.bitwise_right_shift(qzeros.unsqueeze(2).expand(-1, -1, 32 // bits), wf.unsqueeze(0))
        zeros = torch.bitwise_and(zeros.to(torch.int16), maxq).reshape(scales.shape) + int(v1)
        weight = torch.bitwise_right_shift(qweight.unsqueeze(1).expand(-1, 32 // bits, -1), wf.unsqueeze(-1))
        weight = torch.bitwise_and(weight.to(torch.int16), maxq).reshape(inputs, -1)
        return (scales[g_idx] * (weight - zeros[g_idx])).t()

    return run


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
            out = run()
            secs = float("inf")
            for _ in range(REPS):
                start = time.perf_counter()
                out = run()
                secs = min(secs, time.perf_counter() - start)
            label = timed(scheme)
            numel = out.numel() if hasattr(out, "numel") and callable(out.numel) else out.size
            print(f"{name:<28} {scheme:<24} {numel * 4 / secs / 1e9:>10.3f}  {label}".rstrip())
        except (ImportError, NotImplementedError, RuntimeError, TypeError, KeyError) as e:
            print(f"{name:<28} {scheme:<24} {'-':>10}  ({e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
