"""buildkit reads cq's facts from cq itself (`cq __contract`), never from a second copy of its
rules: the state dir under each environment, the holder files, the record keys, the shared
build-dir. Each is compared with what a real cq run leaves on disk."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from buildkit.diagnose import queue
from conftest import REPO

SOURCE = REPO / "templates" / "cq.sh"


@pytest.mark.parametrize("variable", ["CQ_STATE_DIR", "XDG_RUNTIME_DIR", "HOME"])
def test_the_state_dir_is_where_a_real_cq_keeps_its_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    for name in ("CQ_STATE_DIR", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    base = tmp_path / "base"
    base.mkdir(mode=0o700)
    monkeypatch.setenv(variable, str(base))
    held = subprocess.Popen(["sh", str(SOURCE), "exec", "sleep", "30"], cwd=tmp_path)
    try:
        directory = queue.state_dir()
        assert directory is not None
        deadline = time.monotonic() + 20
        while not list(directory.glob("*" + queue.HOLDER_SUFFIX)):
            assert time.monotonic() < deadline, f"no holder record in {directory}"
            time.sleep(0.05)
        assert directory.is_relative_to(base)
        [holder] = queue.live_holders()
        assert holder.pid == held.pid
        record = holder.file.read_text()
        keys = {line.split("=", 1)[0] for line in record.splitlines()}
        assert keys == set(queue.contract()["record_keys"].split())
    finally:
        held.terminate()
        held.wait(timeout=30)


def test_python_reads_only_what_the_contract_names() -> None:
    facts = queue.contract()
    assert facts["holder_glob"] == "*" + queue.HOLDER_SUFFIX
    used = {"pid", "pgid", "started", "cwd", "cmd"}
    assert used <= set(facts["record_keys"].split())
