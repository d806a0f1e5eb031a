"""Shared fixtures: the repository's known-answer vectors, private copies of
key files (key files must be mode 0600), and the `trialink` CLI to compare
against (``TRIALINK`` names the binary; default target/debug/trialink)."""

import csv
import os
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "fixtures" / "vectors"
SCHEMA = ROOT / "fixtures" / "linkage" / "schema.json"


def read_strings(path) -> pa.Table:
    """A CSV as a table of string columns (as the CLI reads cells)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    return pa.table({h: pa.array([r[i] for r in body], pa.string()) for i, h in enumerate(header)})


def private_copy(src, dst) -> str:
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o600)
    return str(dst)


@pytest.fixture
def master_key(tmp_path):
    return private_copy(VECTORS / "master.key", tmp_path / "master.key")


@pytest.fixture(scope="session")
def cli():
    exe = os.environ.get("TRIALINK") or str(ROOT / "target" / "debug" / "trialink")
    if not os.path.exists(exe):
        if os.environ.get("REQUIRE_CLI"):
            pytest.fail(f"the trialink CLI is not at {exe}")
        pytest.skip("the trialink CLI is not built (set TRIALINK)")

    def run(*args, check=True):
        p = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"trialink {' '.join(map(str, args))}: exit {p.returncode}\n{p.stderr}")
        return p

    run.exe = exe
    run.parquet = _cli_reads_parquet(exe)
    return run


def _cli_reads_parquet(exe) -> bool:
    import tempfile

    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "probe.parquet"
        pq.write_table(pa.table({"x": ["1"]}), p)
        out = subprocess.run([exe, "filter", "build", "--tokens", str(p), "--fpr", "0.1", "--fingerprint", "0" * 16,
                              "--output", str(Path(d) / "o.tlbf")], capture_output=True, text=True)
        return "without Parquet support" not in out.stderr


@pytest.fixture(scope="session")
def world(tmp_path_factory, cli):
    """A synthetic cohort and registry (`trialink synth`) and a registry key."""
    d = tmp_path_factory.mktemp("world")
    cli("synth", "--people", 600, "--seed", 11, "--out", d / "synth", "--as-of", "2026-01-01")
    cli("keys", "generate", "--out", d / "master.key")
    cli("keys", "derive", "--from", d / "master.key", "--scope", "registry:test", "--out", d / "registry.key")
    return d


def combined(world, side):
    """token, nhs_token, clk, blocking per input row (as bench/link_quality.sh)."""
    import trialink

    table = read_strings(world / "synth" / f"{side}.csv")
    key = trialink.Key.load(str(world / "registry.key"))
    t = trialink.pseudonymise(table, key, as_of="2026-01-01", with_nhs_token=True)
    c = trialink.encode(table, trialink.Schema.load(str(SCHEMA)), key)
    return pa.table({"token": t["token"], "nhs_token": t["nhs_token"], "clk": c["clk"], "blocking": c["blocking"]})
