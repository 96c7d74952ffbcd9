"""Shared helpers: the repository's fixtures and the CLI binary the Python results are compared with."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"


def cli_binary() -> Path:
    """The `weightlens` binary built from the same tree (WEIGHTLENS_BIN overrides)."""
    path = Path(os.environ.get("WEIGHTLENS_BIN", ROOT / "target" / "debug" / "weightlens"))
    if not path.exists():
        pytest.fail(f"{path} does not exist: build it first (cargo build -p weightlens)")
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(cli_binary()), "--quiet", *args], capture_output=True, text=True, cwd=ROOT)


# Every model the fixtures hold at their top level, each directory of quantized weights, and
# the ONNX and pickle files (the hostile ones in bad/ and pickle/malicious are tested for errors).
def fixture_models() -> list[Path]:
    skip = {"bad", "generator", "reference", "fuzz-regressions", "diff", "quant", "onnx", "pickle"}
    models = [p for p in sorted(FIXTURES.iterdir()) if p.name not in skip and not p.name.endswith(".md")]
    models += [p for p in sorted((FIXTURES / "quant").iterdir()) if p.is_dir() and p.name != "reference"]
    models += sorted((FIXTURES / "onnx").glob("*.onnx")) + [FIXTURES / "onnx" / "external"]
    models += [p for p in sorted((FIXTURES / "pickle").iterdir()) if p.is_file() and p.suffix != ".json"]
    return models
