#!/usr/bin/env python3
"""weightlens `analyze --spectral` against WeightWatcher 0.7.7's `analyze()`, in one run.

Two workloads:
- MiniLM (data/models/all-MiniLM-L6-v2): WeightWatcher as a user runs it, one whole Python
  process (imports, `AutoModel.from_config` + the safetensors state dict, `analyze()`), against
  weightlens' one command; and `analyze()` alone (timed inside that process);
- one 4096x4096 random float32 matrix (seeded): `analyze()` alone on an `nn.Linear` holding it,
  against the whole weightlens command on a safetensors file of it.

Prints, per shared metric, the number of matrices both tools report and the largest relative
difference, and the time ratios. Run by bench/spectral_vs_weightwatcher.sh (which makes the venv).

Usage: python spectral_vs_weightwatcher.py WEIGHTLENS_BIN MODEL_DIR WORK_DIR [--runs N] [--side N]
"""
import csv
import json
import math
import os
import subprocess
import sys
import time

# WeightWatcher column -> (weightlens column, transform of the weightlens value).
SHARED = {
    "alpha": ("alpha", None),
    "alpha_weighted": ("alpha_weighted", None),
    "log_alpha_norm": ("log_alpha_norm", None),
    "log_norm": ("log_norm", None),
    "log_spectral_norm": ("log_spectral_norm", None),
    "xmin": ("xmin", None),
    "xmax": ("xmax", None),
    "D": ("D", None),
    "sigma": ("sigma", None),
    "num_pl_spikes": ("num_pl_spikes", None),
    "warning": ("warning", None),
    "entropy": ("entropy", None),
    "stable_rank": ("stable_rank", None),
    # WeightWatcher's Marchenko-Pastur fit (its analyze(mp_fit=True)).
    "num_spikes": ("num_spikes", None),
    "sigma_mp": ("sigma_mp", None),
    "mp_softrank": ("mp_softrank", None),
    # WeightWatcher's norm and spectral_norm are the squared Frobenius and spectral norms.
    "norm": ("frobenius_norm", lambda v: v * v),
    "spectral_norm": ("sigma_max", lambda v: v * v),
    "sv_max": ("sigma_max", None),
}

# The child process: WeightWatcher as a user runs it. argv: kind path out_csv [timed]
CHILD = r'''
import sys, time, json
kind, path, out = sys.argv[1:4]
import logging, contextlib, io
logging.disable(logging.WARNING)
import torch
import weightwatcher as ww
if kind == "model":
    from transformers import AutoConfig, AutoModel
    from safetensors.torch import load_file
    model = AutoModel.from_config(AutoConfig.from_pretrained(path))
    state = load_file(path + "/model.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Every parameter comes from the file; older files also store the position_ids buffer.
    assert not missing, missing
    assert all(k.endswith("position_ids") for k in unexpected), unexpected
else:
    from safetensors.torch import load_file
    w = load_file(path)["weight"]
    model = torch.nn.Sequential(torch.nn.Linear(w.shape[1], w.shape[0], bias=False))
    with torch.no_grad():
        model[0].weight.copy_(w)
model.eval()
watcher = ww.WeightWatcher(model=model)
t0 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    details = watcher.analyze()
t_analyze = time.perf_counter() - t0
if sys.argv[4:] == ["timed"]:
    # The process as a user runs it ends here.
    print(json.dumps({"analyze_s": t_analyze}))
    sys.exit(0)
# The agreement check also needs the Marchenko-Pastur fit and, for the model, the randomized ESD
# (rand_distance).
with contextlib.redirect_stdout(io.StringIO()):
    details = watcher.analyze(mp_fit=True, randomize=(kind == "model"))
details.to_csv(out, index=False)
with contextlib.redirect_stdout(io.StringIO()):
    summary = watcher.get_summary(details)
print(json.dumps({"analyze_s": t_analyze,
                  "summary": {k: float(v) for k, v in summary.items()}}))
'''


def run_timed(cmd):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return time.perf_counter() - t0, out.stdout


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def number(v):
    if v is None or v == "":
        return None
    try:
        return float(v)
    except ValueError:
        return v


def compare(ww_rows, wl_rows, name_of):
    """Per shared metric: (matrices compared, worst relative difference, worst matrix)."""
    ours = {r["param_name"]: r for r in wl_rows}
    result = {m: [0, 0.0, ""] for m in SHARED}
    matched = 0
    for row in ww_rows:
        name = name_of(row)
        if name not in ours:
            print(f"  WeightWatcher layer {name} not in the weightlens table", file=sys.stderr)
            continue
        matched += 1
        for metric, (col, f) in SHARED.items():
            if metric not in row:
                continue
            a, b = number(row[metric]), number(ours[name].get(col))
            if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
                # warning: WeightWatcher writes "" for no warning, weightlens an empty cell.
                same = (a or "") == (b or "")
                rel = 0.0 if same else math.inf
            else:
                b = f(b) if f else b
                rel = 0.0 if a == b else abs(a - b) / max(abs(a), 1e-300)
            result[metric][0] += 1
            if rel > result[metric][1]:
                result[metric][1:] = [rel, name]
    return matched, result


def rand_distance_report(ww_rows, wl_rows, name_of):
    """rand_distance is random in WeightWatcher (unseeded shuffle) and seeded here: the two agree
    in distribution only, so print both sides' spread rather than a per-matrix difference."""
    ours = {r["param_name"]: number(r.get("rand_distance")) for r in wl_rows}
    pairs = [(number(r["rand_distance"]), ours.get(name_of(r))) for r in ww_rows if "rand_distance" in r]
    pairs = [(a, b) for a, b in pairs if isinstance(a, float) and isinstance(b, float)]
    if not pairs:
        print("  rand_distance: not compared")
        return
    rel = sorted(abs(a - b) / max(abs(a), 1e-300) for a, b in pairs)
    mean = lambda v: sum(v) / len(v)
    print(f"  rand_distance ({len(pairs)} matrices, random on both sides): mean WeightWatcher "
          f"{mean([a for a, _ in pairs]):.4g}, weightlens {mean([b for _, b in pairs]):.4g}; "
          f"relative difference median {rel[len(rel) // 2]:.3g}, max {rel[-1]:.3g}")


def best_of(runs, fn):
    results = [fn() for _ in range(runs)]
    return min(results, key=lambda r: r[0])


def main():
    binary, model_dir, work = sys.argv[1:4]
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 1
    side = int(sys.argv[sys.argv.index("--side") + 1]) if "--side" in sys.argv else 4096
    os.makedirs(work, exist_ok=True)
    child = os.path.join(work, "ww_child.py")
    with open(child, "w") as f:
        f.write(CHILD)
    py = sys.executable
    report = {}

    # 1. MiniLM.
    ww_csv, wl_csv = os.path.join(work, "ww_minilm.csv"), os.path.join(work, "wl_minilm.csv")
    # Whole process as a user runs it (imports, model build, analyze()), timed from outside; the
    # agreement pass (mp_fit, randomize) is a separate, untimed run.
    t_ww, _ = best_of(runs, lambda: run_timed([py, child, "model", model_dir, ww_csv, "timed"]))
    _, out = run_timed([py, child, "model", model_dir, ww_csv])
    ww_info = json.loads(out.strip().splitlines()[-1])
    t_wl, _ = best_of(runs, lambda: run_timed(
        [binary, "analyze", model_dir, "--spectral", "--out", wl_csv, "-q"]))
    # rand_distance: from a --spectral=full run (untimed).
    wl_full = os.path.join(work, "wl_minilm_full.csv")
    run_timed([binary, "analyze", model_dir, "--spectral=full", "--out", wl_full, "-q"])
    matched, result = compare(read_csv(ww_csv), read_csv(wl_csv), lambda r: r["longname"] + ".weight")
    rand_distance_report(read_csv(ww_csv), read_csv(wl_full), lambda r: r["longname"] + ".weight")
    print(f"MiniLM: {matched} matrices analyzed by both tools")
    print(f"  {'metric':<18} {'n':>4} {'max rel diff':>14}  worst matrix")
    for metric, (n, rel, worst) in result.items():
        print(f"  {metric:<18} {n:>4} {rel:>14.3e}  {worst}")
    print(f"  whole process: WeightWatcher {t_ww:.2f} s, weightlens {t_wl:.2f} s: {t_ww / t_wl:.1f}x")
    print(f"  analyze() alone {ww_info['analyze_s']:.2f} s: {ww_info['analyze_s'] / t_wl:.1f}x")
    print(f"  WeightWatcher get_summary(): {ww_info['summary']}")
    report["minilm"] = dict(matched=matched, metrics=result, ww_process_s=t_ww, ww_analyze_s=ww_info["analyze_s"],
                            weightlens_s=t_wl)

    # 2. One side x side random matrix.
    import numpy as np
    from safetensors.numpy import save_file
    rng = np.random.default_rng(20261201)
    st = os.path.join(work, f"random{side}.safetensors")
    save_file({"weight": rng.standard_normal((side, side)).astype(np.float32)}, st)
    ww_csv, wl_csv = os.path.join(work, "ww_random.csv"), os.path.join(work, "wl_random.csv")
    _, out = best_of(runs, lambda: run_timed([py, child, "matrix", st, ww_csv]))
    t_ww = json.loads(out.strip().splitlines()[-1])["analyze_s"]  # the default analyze() only
    t_wl, _ = best_of(runs, lambda: run_timed([binary, "analyze", st, "--spectral", "--out", wl_csv, "-q"]))
    matched, result = compare(read_csv(ww_csv), read_csv(wl_csv), lambda r: "weight")
    print(f"random {side}x{side}: {matched} matrix")
    for metric, (n, rel, _) in result.items():
        print(f"  {metric:<18} {n:>4} {rel:>14.3e}")
    print(f"  WeightWatcher analyze() {t_ww:.2f} s, weightlens whole process {t_wl:.2f} s: {t_ww / t_wl:.1f}x")
    report["random"] = dict(side=side, metrics=result, ww_analyze_s=t_ww, weightlens_s=t_wl)
    with open(os.path.join(work, "report.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
