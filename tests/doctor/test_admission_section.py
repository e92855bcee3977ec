"""doctor's admission section says which program holds the CPU budget's slots, and why perl
does when the compiled holder could not be built (a finding with the log's first error)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from admission.admission_helpers import holder_source, prebuilt_holder
from conftest import run_buildkit


def test_doctor_names_the_holder_and_why_perl_holds(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "budget"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("BUILDKIT_ADMISSION_DIR", str(folder))
    monkeypatch.delenv("BUILDKIT_ADMISSION_HOLDER", raising=False)
    _, ident = holder_source()

    def section() -> tuple[dict[str, object], list[dict[str, object]]]:
        ran = run_buildkit("doctor", example, "--json")
        assert ran.exit_code == 0, ran.stderr
        data = json.loads(ran.stdout)
        found = [f for f in data["findings"] if f["kind"] == "admission_holder_failed"]
        return data["admission"], found

    budget, found = section()
    assert budget["holder"] == str(folder / f"holder-{ident}")
    assert budget["holder_runs"] == "compiled, once the next compile has built it"
    assert not found

    failed = folder / f"holder-{ident}.failed"
    failed.write_text("warning: unused\nerror: linking with `cc` failed: exit status: 1\n")
    budget, found = section()
    assert budget["holder_runs"] == "perl"
    assert budget["build_failed"] == "error: linking with `cc` failed: exit status: 1"
    [finding] = found
    assert finding["path"] == str(failed) and "perl holds the slots" in str(finding["message"])
    text = run_buildkit("doctor", example)
    said = "slots are held by: the perl holder (the compiled holder could not be built: error"
    assert said in text.stdout

    failed.unlink()
    shutil.copy2(prebuilt_holder(), folder / f"holder-{ident}")
    budget, found = section()
    assert budget["holder_runs"] == "compiled" and budget["build_failed"] is None
    assert not found
    monkeypatch.setenv("BUILDKIT_ADMISSION_HOLDER", "perl")
    budget, _ = section()
    assert budget["holder_runs"] == "perl" and budget["forced_perl"] is True
