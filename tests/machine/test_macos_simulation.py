"""SIMULATION of the macOS path on Linux: macOS cannot run here, so the Darwin facts the role
dispatches on are forced (run_provision's `system`, which sets buildkit_machine_system and
buildkit_machine_os_family for the role and picks the home layout in Python), and so is the
login shell (`login_shell`: /bin/zsh, macOS's default since Catalina), with a temporary HOME.
What is proven: the Darwin branch is the one taken (zsh rc, perl check) and no Linux-only
task runs. What is not: anything about a real macOS (its zsh, its perl, BSD tools)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from buildkit.provision import run_provision
from machine.machine_helpers import make_home, user_env, write_profile


def test_simulated_macos_gets_the_zsh_block_and_no_linux_task(
    tmp_path: Path, example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = make_home(tmp_path)
    bashrc = (home / ".bashrc").read_text()
    (home / ".zshrc").write_text("# my zshrc\nsetopt autocd\n")
    # mold would need root and apt: on (simulated) macOS the role must not even try
    repo = write_profile(example, linker="mold")
    for name, value in user_env(home).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CARGO_HOME", raising=False)
    lines: list[str] = []

    result = run_provision(
        repo,
        system="Darwin",
        login_shell="/bin/zsh",
        extra_vars={"buildkit_machine_install_hakari": False},
        out=lines.append,
    )

    output = "".join(lines)
    assert result.recap is not None and result.recap.failed == 0, output
    assert "setup-Darwin.yml" in output
    assert "Check that perl can lock files" in output
    assert "setup-Debian.yml" not in output and "setup-RedHat.yml" not in output
    assert "fast linker" not in output
    zshrc = (home / ".zshrc").read_text()
    assert zshrc.startswith("# >>> buildkit >>>\n")
    assert zshrc.endswith("# <<< buildkit <<<\n# my zshrc\nsetopt autocd\n")
    assert (home / ".bashrc").read_text() == bashrc  # bash's rc is not macOS's default
    settings = tomllib.loads((home / ".cargo" / "config.toml").read_text())
    # no Linux linker selected on macOS: the only target table is admission's runner
    assert list(settings.get("target", {})) == ["cfg(all())"], settings
    assert (home / ".local" / "bin" / "cq").is_file()
