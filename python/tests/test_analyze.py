"""`weightlens.analyze` gives the rows of `weightlens analyze -o x.parquet`, cell by cell."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import weightlens

from conftest import FIXTURES, ROOT, fixture_models, run_cli

# The run's timestamp: the same in every row of one run, different between two runs.
RUN_DEPENDENT = {"created_at"}


def same_cell(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def assert_same_table(got: pa.Table, want: pa.Table) -> None:
    assert got.schema.names == want.schema.names
    assert [f.type for f in got.schema] == [f.type for f in want.schema]
    assert got.num_rows == want.num_rows
    for name in got.schema.names:
        if name in RUN_DEPENDENT:
            continue
        g, w = got.column(name).to_pylist(), want.column(name).to_pylist()
        for row, (x, y) in enumerate(zip(g, w)):
            assert same_cell(x, y), f"{name} of row {row}: {x!r} != {y!r}"


@pytest.mark.parametrize("model", fixture_models(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_rows_equal_cli_parquet(model, tmp_path):
    out = tmp_path / "params.parquet"
    cli = run_cli("analyze", str(model), "-o", str(out))
    if not out.exists():
        # The CLI wrote no table: every tensor failed, and Python raises the first error.
        assert cli.returncode == 1, cli.stderr
        with pytest.raises(weightlens.WeightlensError):
            weightlens.analyze(model)
        return
    got = weightlens.analyze(model)
    assert_same_table(got, pq.read_table(out))
    meta = weightlens.run_meta(got)
    assert meta["tensor_count"] == got.num_rows
    cli_meta = json.loads((tmp_path / "run_meta.json").read_text())
    assert weightlens.errors(got) == cli_meta["errors"]
    assert meta["anomalies"] == cli_meta["anomalies"] and meta["duplicates"] == cli_meta["duplicates"]


def test_options_equal_cli(tmp_path):
    model = FIXTURES / "llama-tiny"
    out = tmp_path / "p.parquet"
    cli = run_cli(
        "analyze", str(model), "-o", str(out), "--rank", "approx", "--spectral", "--filter", "attn",
        "--zero-eps", "0.001", "--model-id", "me/tiny", "--revision", "abc",
    )
    assert cli.returncode == 0, cli.stderr
    got = weightlens.analyze(
        str(model), rank="approx", spectral=True, filter="attn", zero_eps=1e-3, model_id="me/tiny", revision="abc"
    )
    assert_same_table(got, pq.read_table(out))
    assert set(got.column("model_id").to_pylist()) == {"me/tiny"}


def test_spectral_full_and_conv_ww_equal_cli(tmp_path):
    model = FIXTURES / "conv-ww.safetensors"
    out = tmp_path / "p.parquet"
    cli = run_cli("analyze", str(model), "-o", str(out), "--spectral=full", "--conv", "ww")
    assert cli.returncode == 0, cli.stderr
    got = weightlens.analyze(str(model), spectral="full", conv="ww")
    assert "rand_distance" in got.schema.names and "alpha" in got.schema.names
    assert_same_table(got, pq.read_table(out))
    assert weightlens.run_meta(got)["thresholds"]["conv"] == "ww"
    # The default (reshape) gives other spectra for the 4-D tensors than WeightWatcher's slices.
    plain = weightlens.analyze(str(model), spectral=True)
    assert "rand_distance" not in plain.schema.names
    assert plain.column("alpha").to_pylist() != got.column("alpha").to_pylist()


def test_llama_tiny_rows_and_metadata():
    table = weightlens.analyze(str(FIXTURES / "llama-tiny"))
    assert table.num_rows == 21
    meta = weightlens.run_meta(table)
    assert meta["tensor_count"] == 21 and meta["errors"] == [] and meta["format"] is None
    assert meta["thresholds"]["rank"] == "exact"
    df = table.to_pandas()
    assert list(df.columns) == table.schema.names


def test_per_tensor_errors_are_listed_not_raised():
    # truncated.gguf: tensors whose data lies past the end fail, the others are analyzed.
    table = weightlens.analyze(FIXTURES / "bad" / "truncated.gguf")
    errs = weightlens.errors(table)
    assert table.num_rows > 0 and errs
    assert all(e["file"].endswith("truncated.gguf") and e["message"] for e in errs)
    assert weightlens.run_meta(table)["errors"] == errs


def test_shards_concatenate_to_one_run():
    model = FIXTURES / "llama-tiny"
    whole = weightlens.analyze(model)
    parts = [weightlens.analyze(model, shard=(k, 3)) for k in range(3)]
    assert sum(p.num_rows for p in parts) == whole.num_rows
    key = lambda t: sorted(zip(t.column("param_name").to_pylist(), t.column("mean").to_pylist()))
    merged = pa.concat_tables(parts)
    assert key(merged) == key(whole)
    assert weightlens.run_meta(parts[1])["shard"]["index"] == 1


def test_threads_give_the_same_rows():
    model = FIXTURES / "llama-tiny"
    # Statistics are merged in chunk order and ranks are integers: the same for any thread
    # count. (Spectral values come from a parallel SVD whose last bits depend on the threads.)
    one = weightlens.analyze(model, threads=1)
    two = weightlens.analyze(model, threads=2)
    assert weightlens.run_meta(one)["limits"]["threads"] == 1
    assert weightlens.run_meta(two)["limits"]["threads"] == 2
    assert_same_table(one, two)


def test_progress_callback_sees_every_tensor():
    calls = []
    table = weightlens.analyze(FIXTURES / "llama-tiny", progress=lambda *a: calls.append(a))
    assert calls, "the callback is called at least once, when the run ends"
    done, total, done_bytes, total_bytes = calls[-1]
    assert done == total == table.num_rows and done_bytes == total_bytes > 0


def test_progress_callback_exception_stops_the_run():
    class Stop(Exception):
        pass

    def boom(*_):
        raise Stop

    with pytest.raises(Stop):
        weightlens.analyze(FIXTURES / "llama-tiny", progress=boom)


def test_bad_arguments():
    with pytest.raises(ValueError):
        weightlens.analyze(FIXTURES / "llama-tiny", rank="fast")
    with pytest.raises(ValueError):
        weightlens.analyze(FIXTURES / "llama-tiny", filter="(")
    with pytest.raises(ValueError):
        weightlens.analyze(FIXTURES / "llama-tiny", shard=(3, 3))
    with pytest.raises(ValueError):
        weightlens.analyze(FIXTURES / "llama-tiny", threads=0)
    with pytest.raises(ValueError):
        weightlens.analyze(FIXTURES / "llama-tiny", spectral="half")
    with pytest.raises(ValueError):
        weightlens.analyze(FIXTURES / "llama-tiny", spectral=True, conv="slices")


@pytest.mark.parametrize(
    "name,exc",
    [
        ("notes.gguf", weightlens.UnknownFormatError),
        ("malicious-pickle.bin", weightlens.RefusedPickleError),
        ("object-array.npy", weightlens.RefusedPickleError),
        ("huge-count.gguf", weightlens.MalformedError),
        ("truncated.safetensors", weightlens.MalformedError),
    ],
)
def test_whole_file_failures_raise_typed_exceptions(name, exc):
    with pytest.raises(exc) as info:
        weightlens.analyze(FIXTURES / "bad" / name)
    assert name in str(info.value)
    assert issubclass(exc, weightlens.WeightlensError)


def test_missing_path_raises():
    with pytest.raises(weightlens.WeightlensError):
        weightlens.analyze(ROOT / "no-such-model")


def test_progress_true_draws_a_tqdm_bar(capsys):
    import tqdm  # noqa: F401  (installed by scripts/python-tests.sh)
    table = weightlens.analyze(FIXTURES / "llama-tiny", progress=True)
    assert table.num_rows == 21
    assert "21/21 tensors" in capsys.readouterr().err
