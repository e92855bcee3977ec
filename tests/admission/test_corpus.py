"""Every way of starting a heavy cargo command lands in the CPU budget; nothing else waits.

Enforcement is at cargo's own extension points (the rendered rustc wrapper and runner), so the
corpus is run for real: each form through `bash -c` in a repository rendered by buildkit, with
the whole budget held by the test. A heavy form must be seen waiting (its waiting record appears
while no compiler or test binary of it runs) and finish once the budget is released; a harmless
form must finish while the budget is still held. The crate is built once up front, and each
heavy form is preceded by a touch of the sources, so it needs one compile (or one test run).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from admission.admission_helpers import (
    budget_held,
    build_env,
    copy_scripts,
    descendants,
    make_home,
    rendered_crate,
    wait_for,
    waiting_pids,
)

SCRIPTS = {
    "build.sh": "#!/bin/sh\nset -e\ncargo build\n",
    "test.sh": '#!/bin/bash\ncargo test "$@"\n',
    "via-var.sh": '#!/bin/sh\n"${CARGO:-cargo}" check\n',
    # cargo-watch and friends: a program that runs `cargo <args>` when files change (once here)
    "watch.sh": '#!/bin/sh\nwhile [ "$1" = -x ]; do cmd=$2; shift 2; cargo $cmd || exit; done\n',
    "Makefile": "test:\n\tcargo test\n",
}

# One compile or one test binary each; {py} is this Python (pyenv shims need the real HOME).
HEAVY = [
    "cargo test",
    "cargo t",
    "cargo build",
    "cargo b",
    "cargo check",
    "cargo c",
    "cargo clippy",
    "cargo run",
    "cargo r --bin tiny",
    "cargo rustc --lib",
    "cargo test --lib",
    "cargo test -q",
    "cargo test --no-run",
    "cargo test -- --nocapture",
    "cargo +stable test",
    "cargo --locked test",
    "cargo --offline build",
    "cargo build --release",
    "cargo test --release",
    "cargo bench",
    "bash -lc 'cargo test'",
    "bash -l -c 'cargo check'",
    "$(rustup which cargo) test",
    '"$(rustup which cargo)" build',
    "~/.cargo/bin/cargo test",
    "$HOME/.cargo/bin/cargo check",
    "taskset -c 0 cargo test",
    "taskset -c 0 ~/.cargo/bin/cargo test",
    "nice -n 5 cargo build",
    "ionice -c 3 cargo check",
    "timeout 300 cargo test",
    "stdbuf -oL cargo test",
    "env cargo test",
    "env -i HOME=$HOME PATH=$HOME/.cargo/bin:/usr/bin:/bin cargo test",
    "env -i HOME=$HOME PATH=/usr/bin:/bin $HOME/.cargo/bin/cargo build",
    "env -S 'cargo check'",
    "PATH=/usr/bin:/bin:$HOME/.cargo/bin cargo test",
    'cargo() { command cargo "$@"; }; cargo test',
    'function cargo { ~/.cargo/bin/cargo "$@"; }; cargo build',
    "shopt -s expand_aliases\nalias cb='cargo build'\ncb",
    "sh -c 'cargo test'",
    "dash -c 'cargo check'",
    "./scripts/build.sh",
    "sh ./scripts/test.sh",
    "bash scripts/test.sh --lib",
    "CARGO=~/.cargo/bin/cargo ./scripts/via-var.sh",
    "./scripts/watch.sh -x check -x test",
    "make -s -f scripts/Makefile test",
    "echo test | xargs cargo",
    "echo build | xargs -I{} cargo {}",
    "eval 'cargo test'",
    "exec cargo test",
    "command cargo test",
    "nohup cargo build >/dev/null 2>&1",
    "setsid -w cargo test",
    "time cargo test",
    "(cd src && cargo test)",
    "cd src && cargo test --manifest-path ../Cargo.toml",
    '{py} -c \'import subprocess, sys; sys.exit(subprocess.run(["cargo", "test"]).returncode)\'',
    'perl -e \'exit(system("cargo", "build") >> 8)\'',
    "rustup run stable cargo test",
    "$(which cargo) test",
    "`command -v cargo` build",
    "d=$HOME/.cargo; $d/bin/cargo test",
    "x=car; y=go; $x$y test",
    "printf 'cargo test\\n' | bash",
    "env CARGO_INCREMENTAL=0 cargo build",
    "RUSTFLAGS=-Cdebuginfo=0 cargo build",
    "for i in 1; do cargo test; done",
    "if true; then cargo check; fi",
    "cargo test & wait $!",
    "cargo test | cat",
    "(exec cargo test)",
    "find . -maxdepth 0 -exec cargo test \\;",
]

HARMLESS = [
    "cargo --version",
    "cargo -V",
    "cargo version",
    "cargo -vV",
    "cargo --list",
    "cargo help test",
    "cargo test --help",
    "cargo build --help",
    "cargo metadata --no-deps --format-version 1",
    "cargo tree",
    "cargo pkgid",
    "cargo locate-project",
    "cargo read-manifest",
    "cargo verify-project",
    "cargo fmt --check",
    "cargo check",  # nothing changed since the last build: nothing to compile
    "cargo test --no-run",  # the same
    "rustc -vV",
    "rustup which cargo",
    "ls target",
    "git status --short",
    "cat Cargo.toml",
    "grep -c fn src/lib.rs",
    "echo cargo test",
    "{py} -c 'print(1)'",
    "sh -c 'true'",
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("admission")
    home = make_home(root)
    crate = rendered_crate(root, home)
    copy_scripts(crate, SCRIPTS)
    state = root / "cq-state"
    state.mkdir(mode=0o700)
    env = build_env(home, state)
    # build everything the forms need once, with the budget free
    for command in (
        "cargo build",
        "cargo build --release",
        "cargo test --no-run",
        "cargo test --release --no-run",
        "cargo bench --no-run",
        "cargo check",
        "cargo clippy",
    ):
        done = subprocess.run(
            ["bash", "-c", command], cwd=crate, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (command, done.stderr)
    return crate, env


def start(form: str, crate: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", "-c", form.replace("{py}", sys.executable)],
        cwd=crate,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[str], form: str, deadline: float) -> str:
    try:
        out, _ = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
        raise AssertionError(f"{form!r} did not finish within {deadline}s:\n{out}") from None
    assert proc.returncode == 0, f"{form!r} exited {proc.returncode}:\n{out}"
    return out


def test_the_corpus_is_as_large_as_promised() -> None:
    assert len(HEAVY) >= 60 and len(set(HEAVY)) == len(HEAVY)
    assert len(HARMLESS) >= 25 and len(set(HARMLESS)) == len(HARMLESS)


@pytest.mark.parametrize("form", HEAVY)
def test_a_heavy_form_waits_for_the_budget(repo: tuple[Path, dict[str, str]], form: str) -> None:
    crate, env = repo
    home = Path(env["HOME"])
    os.utime(crate / "src/lib.rs")  # one compile is needed (and a test binary after it)
    os.utime(crate / "src/main.rs")
    with budget_held(home):
        proc = start(form, crate, env)
        try:

            def blocked() -> dict[int, str] | None:
                below = descendants(proc.pid)
                assert proc.poll() is None, f"{form!r} finished with the budget held"
                return below if waiting_pids(Path(env["HOME"])) & below.keys() else None

            below = wait_for(f"{form!r} to wait for a slot", blocked, deadline=60)
            assert isinstance(below, dict)
            running = {p: n for p, n in below.items() if n in ("rustc", "clippy-driver")}
            running |= {p: n for p, n in below.items() if n.startswith("tiny")}
            assert not running, f"{form!r} compiles or runs while it waits: {running}"
        except BaseException:
            os.killpg(proc.pid, 9)
            proc.communicate()
            raise
    finish(proc, form, deadline=180)


@pytest.mark.parametrize("form", HARMLESS)
def test_a_harmless_form_does_not_wait(repo: tuple[Path, dict[str, str]], form: str) -> None:
    crate, env = repo
    home = Path(env["HOME"])
    # up to date first (a heavy form before may have touched the sources), the budget free
    fresh = subprocess.run(
        ["bash", "-c", "cargo check -q && cargo test --no-run -q"], cwd=crate, env=env
    )
    assert fresh.returncode == 0
    with budget_held(home):
        proc = start(form, crate, env)
        seen: set[int] = set()
        while proc.poll() is None:
            seen |= waiting_pids(home) & descendants(proc.pid).keys()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.02)
            if seen:
                break
        assert not seen, f"{form!r} waited for the budget"
        finish(proc, form, deadline=60)


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_the_wrapper_gates_under_dash_and_bash(
    repo: tuple[Path, dict[str, str]], shell: str, tmp_path: Path
) -> None:
    """cargo runs the wrapper through its `#!/bin/sh` line (dash here): the same script under
    each shell buildkit supports, as the compile's wrapper, waits for the budget and compiles."""
    crate, env = repo
    home = Path(env["HOME"])
    source = (crate / ".config/buildkit/bin/rustc-wrapper").read_text()
    assert source.startswith("#!/bin/sh\n")
    wrapper = tmp_path / f"rustc-wrapper-{shell}"
    wrapper.write_text(f"#!/bin/{shell}\n" + source.split("\n", 1)[1])
    wrapper.chmod(0o755)
    form = f"cargo --config \"build.rustc-wrapper='{wrapper}'\" check"
    os.utime(crate / "src/lib.rs")
    with budget_held(home):
        proc = start(form, crate, env)
        try:
            wait_for(
                f"{form!r} to wait",
                lambda: waiting_pids(home) & descendants(proc.pid).keys(),
                deadline=60,
            )
            below = descendants(proc.pid)
            assert "rustc" not in below.values(), below
        except BaseException:
            os.killpg(proc.pid, 9)
            proc.communicate()
            raise
    finish(proc, form, deadline=120)
