"""A 1 GiB tensor is analyzed without the Python process holding a copy of it."""

from __future__ import annotations

import json
import resource
import struct
import subprocess
import sys

import numpy as np

GIB = 1 << 30

# Run in a fresh interpreter, so that the peak RSS is this analysis's and nothing else's.
CHILD = r"""
import json, resource, sys
import weightlens
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = weightlens.analyze(sys.argv[1], rank="none")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
m = weightlens.open(sys.argv[1])
a = m.get("big")
total = float(a[:: 1 << 20].sum())
viewed = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": t.num_rows, "before_kib": before, "after_kib": after, "viewed_kib": viewed,
                  "owndata": bool(a.flags.owndata), "mean": t.column("mean")[0].as_py(), "total": total}))
"""


def write_safetensors(path, rows: int, cols: int) -> None:
    header = json.dumps({"big": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [0, rows * cols * 4]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        row = np.arange(cols, dtype=np.float32) / cols
        for _ in range(rows):
            f.write(row.tobytes())


def test_one_gib_tensor_without_a_copy(tmp_path):
    path = tmp_path / "big.safetensors"
    write_safetensors(path, 16384, 16384)  # 2^28 float32 = 1 GiB
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
    finally:
        path.unlink()  # do not leave 1 GiB behind, whatever the outcome
    r = json.loads(out.stdout)
    assert r["rows"] == 1
    assert abs(r["mean"] - (16384 - 1) / 2 / 16384) < 1e-6
    # The analysis reads the memory map in chunks: the file pages it touches count toward the
    # RSS (up to 1 GiB, shared with the page cache), but a copy of the tensor would add 1 GiB of
    # anonymous memory on top while those pages are resident, so the peak would grow >= 2 GiB.
    grown_mib = (r["after_kib"] - r["before_kib"]) / 1024
    assert grown_mib < 1536, f"peak RSS grew by {grown_mib:.0f} MiB"
    # get() of plain float32 is a view of the map, not an array of its own.
    assert not r["owndata"]
    assert (r["viewed_kib"] - r["before_kib"]) / 1024 < 1536
