"""`weightlens.open(...).get()` equals `weightlens dump` bit for bit; views of the memory map."""

from __future__ import annotations

import numpy as np
import pytest

import weightlens

from conftest import FIXTURES, run_cli

# Models with plain, half-precision, quantized, integer and big-endian tensors.
MODELS = [
    FIXTURES / "llama-tiny",
    FIXTURES / "dtypes.safetensors",
    FIXTURES / "all-types.gguf",
    FIXTURES / "flax-tiny-compressed.npz",
    FIXTURES / "torch-quirks.pt",
    FIXTURES / "quant" / "gptq-4bit-g128-sym",
    FIXTURES / "onnx" / "typed-fields.onnx",
]


def bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.name)
def test_get_equals_dump(model, tmp_path):
    with weightlens.open(model) as m:
        assert m.keys(), model
        for i, name in enumerate(m.keys()):
            out = tmp_path / f"{i}.npy"
            cli = run_cli("dump", str(model), name, "-o", str(out))
            if cli.returncode != 0:
                with pytest.raises(weightlens.WeightlensError):
                    m.get(name)
                continue
            want = np.load(out)
            got = m.get(name)
            assert got.dtype == want.dtype and got.shape == want.shape, name
            assert bits(got) == bits(want), name


def test_plain_tensors_are_views_of_the_map():
    with weightlens.open(FIXTURES / "dtypes.safetensors") as m:
        f32 = [n for n in m.keys() if m.info(n)["dtype"] == "F32"]
        assert f32
        a = m.get(f32[0])
    # Not owned by numpy: the buffer belongs to the memory map, which outlives close().
    assert not a.flags.owndata and not a.flags.writeable
    assert np.isfinite(a).all()


def test_decoded_tensors_are_writable_copies():
    with weightlens.open(FIXTURES / "dtypes.safetensors") as m:
        halves = [n for n in m.keys() if m.info(n)["dtype"] in ("F16", "BF16")]
        assert halves
        a = m.get(halves[0])
        assert a.dtype == np.float32 and a.flags.writeable


def test_model_protocol():
    m = weightlens.open(FIXTURES / "llama-tiny")
    assert len(m) == len(m.keys()) == 21
    assert m.keys()[0] in m and "nope" not in m
    assert m.framework == "safetensors"
    info = m.info(m.keys()[0])
    assert {"name", "dtype", "shape", "bytes", "file"} <= set(info)
    with pytest.raises(weightlens.NoSuchTensorError):
        m.get("nope")
    m.close()
    with pytest.raises(ValueError):
        m.get(m.keys()[0])


def test_open_errors():
    with pytest.raises(weightlens.UnknownFormatError):
        weightlens.open(FIXTURES / "bad" / "notes.gguf")
    with pytest.raises(weightlens.RefusedPickleError):
        weightlens.open(FIXTURES / "bad" / "malicious-pickle.bin")


def test_ls_lists_headers():
    rows = weightlens.ls(FIXTURES / "llama-tiny")
    assert len(rows) == 21
    assert all(r["framework"] == "safetensors" and r["shape"] for r in rows)
    with weightlens.open(FIXTURES / "llama-tiny") as m:
        assert [r["name"] for r in rows] == m.keys()


def test_scan_verdicts():
    scans = weightlens.scan(FIXTURES / "pickle")
    verdicts = {s["path"].rsplit("/", 1)[-1]: s["verdict"] for s in scans}
    assert verdicts["global-reduce-os-system.pkl"] == "dangerous"
    assert verdicts["torch-tensors.pt"] == "safe"


def test_diff_of_a_model_with_itself():
    model = FIXTURES / "llama-tiny"
    table = weightlens.diff(model, model)
    assert table.num_rows == 21
    meta = weightlens.run_meta(table)
    assert meta["matched"] == 21 and meta["errors"] == []
