"""Ctrl-C (SIGINT) stops a long analysis: KeyboardInterrupt is raised, the workers stop early."""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import sys
import time

import numpy as np

CHILD = r"""
import sys, time, weightlens
print("started", flush=True)
t = time.time()
try:
    weightlens.analyze(sys.argv[1], spectral=True, threads=1)
    print("finished", time.time() - t, flush=True)
except KeyboardInterrupt:
    print("interrupted", time.time() - t, flush=True)
"""


def write_matrices(path, count: int, n: int) -> None:
    rng = np.random.default_rng(0)
    names = [f"layers.{i}.weight" for i in range(count)]
    size = n * n * 4
    header = {name: {"dtype": "F32", "shape": [n, n], "data_offsets": [i * size, (i + 1) * size]} for i, name in enumerate(names)}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for _ in names:
            f.write(rng.standard_normal((n, n), dtype=np.float32).tobytes())


def test_sigint_interrupts_a_run(tmp_path):
    path = tmp_path / "m.safetensors"
    write_matrices(path, 16, 1024)  # 16 full SVDs of 1024 x 1024 on one thread: many seconds
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    time.sleep(1.0)
    sent = time.time()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    waited = time.time() - sent
    assert out.startswith("interrupted"), out
    # Tensors already started finish (one SVD at a time here), the rest are skipped.
    assert waited < 20, waited
