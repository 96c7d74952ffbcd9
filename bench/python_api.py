"""The Python package against its baselines, in one run (called by bench/python_api.sh).

1. analyze: `weightlens.analyze(model)` inside this process, against the CLI's whole process
   (`weightlens analyze model -o x.parquet --quiet`, start to exit). Target: Python <= CLI + 10%.
2. read: every tensor with `weightlens.open(model).get(name)` (plus a full pass over its values,
   so that a lazy view pays for its page faults) against `safetensors.safe_open(model,
   framework="numpy").get_tensor(name)` with the same pass. Target: weightlens no slower.

Each measurement is the best of RUNS (default 5) wall times; the ratio is what to read.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

import numpy as np
from safetensors import safe_open

import weightlens


def best(runs: int, f) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def read_weightlens(model: str) -> float:
    total = 0.0
    with weightlens.open(model) as m:
        for name in m.keys():
            total += float(np.sum(m.get(name), dtype=np.float64))
    return total


def read_safetensors(model: str) -> float:
    total = 0.0
    with safe_open(model, framework="numpy") as f:
        for name in f.keys():
            total += float(np.sum(f.get_tensor(name), dtype=np.float64))
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("model")
    args = parser.parse_args()
    runs = int(os.environ.get("RUNS", "5"))
    print(f"machine: {os.cpu_count()} cores; model {args.model}; best of {runs}")

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "params.parquet")
        cli = best(runs, lambda: subprocess.run([args.cli, "analyze", args.model, "-o", out, "--quiet"], check=True))
    rows = weightlens.analyze(args.model).num_rows
    py = best(runs, lambda: weightlens.analyze(args.model))
    print(f"analyze: CLI process {cli:.3f} s, weightlens.analyze {py:.3f} s ({rows} rows): ratio {py / cli:.3f} (target <= 1.10)")

    # Same values (float32 stored as is), summed in the same order.
    assert read_weightlens(args.model) == read_safetensors(args.model)
    wl = best(runs, lambda: read_weightlens(args.model))
    st = best(runs, lambda: read_safetensors(args.model))
    print(f"read all tensors: weightlens.open().get {wl:.3f} s, safetensors.safe_open numpy {st:.3f} s: ratio {wl / st:.3f} (target <= 1.00)")


if __name__ == "__main__":
    main()
