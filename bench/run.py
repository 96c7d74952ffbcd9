#!/usr/bin/env python3
"""The benchmark: every performance target of weightlens against its baseline, measured in one
invocation on this machine, printed as one Markdown table (input, baseline, times, ratio, peak RSS).

Usage: run.py BIN WORKDIR   (bench/run.sh sets it up: venv, release build, real models)
Environment: BENCH_MIB (size of each stats file, default 2048), RUNS (best of, default 3),
BENCH_SLOW=0 skips the rows whose baseline takes minutes (the Python flow on gemma and the
4096x11008 matrix).

Every command runs as its own process; wall time is measured around it and peak RSS is the
command's maximum resident set size as GNU time reports it (/usr/bin/time, Debian's `time`
package), which counts the memory-mapped model pages it touched; the few milliseconds GNU time
adds fall on both sides. Ratios are baseline time / weightlens time (above 1: weightlens is
faster).
"""
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_large import LLAMA2_7B_LAYER, encode, random_matrix, write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUNS = int(os.environ.get("RUNS", "3"))
MIB = int(os.environ.get("BENCH_MIB", "2048"))
SLOW = os.environ.get("BENCH_SLOW", "1") != "0"
# Older OpenBLAS builds need these on some CPUs; they slow a current numpy, so the baselines run
# without them (tests and CI keep them).
TIME = "/usr/bin/time"
PY_ENV = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}


def run(cmd, env=None):
    """(wall seconds, peak RSS MB, stdout) of one run of `cmd`; fails on a non-zero exit.

    Peak RSS comes from GNU time (`/usr/bin/time -f %M`), not from this process's wait4: a child
    forked from this (numpy-heavy) process carries the parent's RSS high-water mark across exec,
    so wait4's ru_maxrss would report the parent's peak. GNU time is exec'd fresh and forks the
    command from its own small image."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r") as rss:
        start = time.perf_counter()
        p = subprocess.run([TIME, "-f", "%M", "-o", rss.name, *cmd], stdout=out, stderr=err, env=env)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            raise RuntimeError(f"{cmd} exited {p.returncode}: {err.read().decode()[-2000:]}")
        return wall, int(rss.read().split()[-1]) / 1024, out.read().decode()


def best(cmd, runs=RUNS, env=None, inner=False):
    """The best of `runs`: (seconds, peak RSS MB). With `inner`, the seconds are what the
    command prints (its own timing of the measured work) instead of the wall time."""
    results = []
    for _ in range(runs):
        wall, rss, out = run(cmd, env)
        results.append((float(out.split()[-1]) if inner else wall, rss))
    return min(results)


def drop_from_page_cache(path):
    """posix_fadvise(DONTNEED) on the whole file: its clean pages leave the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def numpy_read(path):
    """Seconds of the best of 3 one-thread numpy sums of the mapped file as uint64."""
    m = np.memmap(path, dtype=np.uint8, mode="r")
    words = m[: len(m) // 8 * 8].view(np.uint64)
    words.sum()  # in the page cache, and the mapping's pages in this process
    times = []
    for _ in range(3):
        t = time.perf_counter()
        words.sum()
        times.append(time.perf_counter() - t)
    return min(times)


def cold_read(path):
    """Seconds of one sequential read of the file just dropped from the page cache."""
    drop_from_page_cache(path)
    buf = bytearray(16 << 20)
    t = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
    return time.perf_counter() - t


def stats_file(work, dtype):
    """A ~BENCH_MIB MiB safetensors file of 4096-column `dtype` matrices, the last a copy of the
    first (a duplicate the run must report)."""
    path = os.path.join(work, f"stats-{dtype}-{MIB}.safetensors")
    if os.path.exists(path):
        return path
    size = 4 if dtype == "F32" else 2
    rows = 1024
    count = max(2, MIB * (1 << 20) // (rows * 4096 * size))
    base = random_matrix((rows, 4096), 7)
    # Distinct tensors from one random draw: each scaled differently (cheap to write).
    make = lambda k: (lambda: encode(base * np.float32(1 + k / 64), dtype))  # noqa: E731
    tensors = [(f"model.layers.{k}.mlp.up_proj.weight", dtype, (rows, 4096), make(k)) for k in range(count - 1)]
    tensors.append(("lm_head.weight", dtype, (rows, 4096), make(0)))
    write_safetensors(path, tensors)
    return path


def llama_layers(work, layers=2):
    path = os.path.join(work, f"llama2-7b-{layers}layers.safetensors")
    if not os.path.exists(path):
        tensors = [
            (f"model.layers.{layer}.{name}", "BF16", shape,
             lambda s=shape, k=layer * 10 + i: encode(random_matrix(s, k), "BF16"))
            for layer in range(layers)
            for i, (name, shape) in enumerate(LLAMA2_7B_LAYER)
        ]
        write_safetensors(path, tensors)
    return path


def analyze(binary, path, rank, out, threads=None):
    extra = ["--threads", str(threads)] if threads else []
    return [binary, "analyze", path, "--rank", rank, "--out", out, "-q"] + extra


def duplicates_found(out):
    with open(os.path.join(os.path.dirname(out), "run_meta.json")) as f:
        return [d["tensors"] for d in json.load(f)["duplicates"]]


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    out = os.path.join(work, "out", "table.csv")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    py = sys.executable
    rows = []

    def row(label, baseline, b, w, ratio_note=""):
        (bt, bm), (wt, wm) = b, w
        ratio = bt / wt
        rows.append((label, baseline, f"{bt:.3f} s", f"{wt:.3f} s", f"{ratio:.2f}x{ratio_note}",
                     f"{bm:.0f} MB" if bm else "", f"{wm:.0f} MB"))
        print(f"  {label}: {bt:.3f} s vs {wt:.3f} s ({ratio:.2f}x)", file=sys.stderr, flush=True)

    # 1. Statistics only, end to end, page-cached files, against one numpy thread reading them:
    #    on all cores (target: 1.3x) and on one thread (target: 0.7x, 70% of the read speed).
    for dtype in ["F32", "BF16", "F16"]:
        path = stats_file(work, dtype)
        gib = os.path.getsize(path) / 2**30
        base = best([py, __file__, "--numpy-read", path], env=PY_ENV, inner=True)
        for threads in [None, 1]:
            wl = best(analyze(binary, path, "none", out, threads))
            dups = duplicates_found(out)
            if dups != [["lm_head.weight", "model.layers.0.mlp.up_proj.weight"]]:
                raise RuntimeError(f"{path}: duplicates {dups}")
            on = f"{os.cpu_count()} threads" if threads is None else "1 thread"
            row(f"stats only, {dtype}, {gib:.1f} GiB page-cached, {on}", "numpy uint64 sum of the mapping, 1 thread",
                base, wl)

    # 2. The same F32 file cold: dropped from the page cache before each run.
    path = stats_file(work, "F32")
    base = best([py, __file__, "--cold-read", path], runs=1, env=PY_ENV, inner=True)
    drop_from_page_cache(path)
    wl = best(analyze(binary, path, "none", out), runs=1)
    row("stats only, F32, cold cache (fadvise DONTNEED)", "sequential read(2) of the cold file", base, wl)

    # 3. Exact rank of LLM-sized BF16 matrices against numpy's float64 singular values.
    large = os.path.join(work, "large")
    subprocess.run([py, os.path.join(HERE, "make_large.py"), large], check=True)
    flow = os.path.join(HERE, "python_flow.py")
    for name, label, slow in [("square", "4096x4096", False), ("rect", "4096x11008", True)]:
        if slow and not SLOW:
            continue
        path = os.path.join(large, name + ".safetensors")
        base = best([py, flow, path], runs=1, env=PY_ENV)
        wl = best(analyze(binary, path, "exact", out), runs=min(RUNS, 2))
        row(f"exact rank, one {label} BF16 matrix", "Python flow (numpy f64 SVD)", base, wl)

    # 4. A 7B-class model: two Llama-2-7B layers, projected to 32 (wall time x 16).
    path = llama_layers(work)
    t, m = best(analyze(binary, path, "exact", out), runs=1)
    target = 360.0
    rows.append(("exact rank, Llama-2-7B layer shapes, 2 layers x16 = 32 layers", "target: 6 min",
                 f"{target:.0f} s", f"{16 * t:.0f} s (2 layers: {t:.1f} s)", f"{target / (16 * t):.2f}x", "",
                 f"{m:.0f} MB"))

    # 5. The real models, whole process, against the seed's Python flow.
    models = [("all-MiniLM-L6-v2 (F32 safetensors, 90 MB)", "data/models/all-MiniLM-L6-v2/model.safetensors", RUNS)]
    if SLOW:
        models.append(("gemma-3-270m Q4_K_M (GGUF, 253 MB)",
                       "data/models/gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf", 1))
    for label, rel, runs in models:
        path = os.path.join(ROOT, rel)
        base = best([py, flow, path], runs=runs, env=PY_ENV)
        wl = best(analyze(binary, path, "exact", out))
        row(f"{label}, --rank exact", "Python flow", base, wl, f"; RSS {base[1] / wl[1]:.1f}x less")

    load = open("/proc/loadavg").read().split()[:3]
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    print(f"{os.cpu_count()} cores, {cpu}, {platform.system()}; numpy {np.__version__}; best of {RUNS} "
          f"(1 for the cold row, the Python flow on the large inputs and the 7B set); "
          f"load average at the end {' '.join(load)}")
    print()
    header = ("input", "baseline", "baseline time", "weightlens", "ratio", "baseline peak RSS", "weightlens peak RSS")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--numpy-read":
        print(numpy_read(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--cold-read":
        print(cold_read(sys.argv[2]))
    else:
        main()
