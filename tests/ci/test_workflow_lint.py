"""The generated workflow, for several profiles, checked by the programs that judge workflows:
the GitHub workflow JSON schema (bundled in check-jsonschema), zizmor (offline audits) and
yamllint; plus the security properties read off the parsed YAML."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from buildkit.pins import load_pins, pinned_tool
from buildkit.profile import Profile, parse_profile
from buildkit.project import initial_profile_text
from buildkit.render.ownership import OwnedFile
from buildkit.render.plan import build_plan
from buildkit.workspace import detect_workspace
from conftest import EXAMPLE, SEEDLIKE

HERE = Path(__file__).resolve().parent
YAMLLINT_CONFIG = HERE / "yamllint.yaml"
WORKFLOW = ".github/workflows/rust.yml"

# (fixture, hakari, nextest, os): every combination the issue asks for.
VARIATIONS = list(
    itertools.product(
        ("example", "seedlike"),
        (True, False),
        (True, False),
        (("ubuntu-latest",), ("ubuntu-latest", "macos-latest")),
    )
)


def variation_id(fixture: str, hakari: bool, nextest: bool, os: tuple[str, ...]) -> str:
    return (
        f"{fixture}-hakari_{'on' if hakari else 'off'}-nextest_{'on' if nextest else 'off'}"
        f"-{'+'.join(o.split('-')[0] for o in os)}"
    )


def make_profile(root: Path, base: str, **sections: dict[str, Any]) -> Profile:
    """The profile `buildkit init` would write for ``root``, with sections overridden."""
    data = yaml.safe_load(base)
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    text = yaml.safe_dump(data, sort_keys=False)
    return parse_profile(text, root=root, path=root / "buildkit.yaml")


def workflow_of(profile: Profile) -> OwnedFile:
    found = [a for a in build_plan(profile).artifacts if a.path == WORKFLOW]
    assert len(found) == 1 and isinstance(found[0], OwnedFile)
    return found[0]


# A pinned source, so the `buildkit check` job is part of every linted variation.
PINNED = "git+https://example.org/bk@0123456789abcdef0123456789abcdef01234567"


TEAM_CACHE = {
    "kind": "redis",
    "location": "redis://cache.example.internal:6379",
    "credentials": {"SCCACHE_REDIS_PASSWORD": "TEAM_CACHE_PASSWORD"},
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every variation rendered (header included) into its own file; {id: path}."""
    roots = {}
    for name, source in (("example", EXAMPLE), ("seedlike", SEEDLIKE)):
        root = tmp_path_factory.mktemp(name) / name
        shutil.copytree(source, root)
        # `cargo metadata` only (crates.io's index for seedlike): nothing is built here.
        roots[name] = (root, initial_profile_text(detect_workspace(root)))
    out_dir = tmp_path_factory.mktemp("workflows")
    files = {}
    for fixture, hakari, nextest, os in VARIATIONS:
        root, base = roots[fixture]
        profile = make_profile(
            root,
            base,
            hakari={"enabled": hakari},
            ci={"nextest": nextest, "os": list(os), "buildkit_source": PINNED},
        )
        key = variation_id(fixture, hakari, nextest, os)
        target = out_dir / key / WORKFLOW
        target.parent.mkdir(parents=True)
        target.write_text(workflow_of(profile).render(None), encoding="utf-8")
        files[key] = target
    # Options that add steps and env: a linker, a build-dir, --locked, a toolchain file.
    root, base = roots["example"]
    (root / "rust-toolchain.toml").write_text('[toolchain]\nchannel = "1.95.0"\n')
    profile = make_profile(
        root,
        base,
        cargo={"linker": "lld", "build_dir": "{cargo-cache-home}/build/{workspace-path-hash}"},
        ci={"locked": True, "clippy_deny_warnings": False, "buildkit_check": False},
    )
    target = out_dir / "example-options" / WORKFLOW
    target.parent.mkdir(parents=True)
    target.write_text(workflow_of(profile).render(None), encoding="utf-8")
    files["example-options"] = target
    # The team's compiler cache: sccache installed, its mode per event, a secret by name.
    profile = make_profile(
        root,
        base,
        ci={"msrv": "1.80", "nextest": True, "buildkit_check": False},
        cache={"remote": TEAM_CACHE},
    )
    target = out_dir / "example-team-cache" / WORKFLOW
    target.parent.mkdir(parents=True)
    target.write_text(workflow_of(profile).render(None), encoding="utf-8")
    files["example-team-cache"] = target
    # kind gha: GitHub's own cache, handed to sccache by a pinned github-script step
    profile = make_profile(
        root, base, ci={"buildkit_check": False}, cache={"remote": {"kind": "gha"}}
    )
    target = out_dir / "example-team-cache-gha" / WORKFLOW
    target.parent.mkdir(parents=True)
    target.write_text(workflow_of(profile).render(None), encoding="utf-8")
    files["example-team-cache-gha"] = target
    # What init chooses next to a repository's own workflows: an MSRV job, jobs left out.
    for key, ci in {
        "example-msrv-no-test-no-fmt": {"msrv": "1.74", "test": False, "fmt": False},
        "example-only-msrv": {"msrv": "1.74.1", "test": False, "fmt": False, "clippy": False},
        "example-no-lint-master": {"fmt": False, "clippy": False, "branches": ["master"]},
    }.items():
        profile = make_profile(root, base, ci={**ci, "buildkit_check": False})
        target = out_dir / key / WORKFLOW
        target.parent.mkdir(parents=True)
        target.write_text(workflow_of(profile).render(None), encoding="utf-8")
        files[key] = target
    return files


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, timeout=300
    )


def tool(name: str) -> str:
    """A Python test tool: from this interpreter's environment first, else from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]'"
    return found


def test_every_variation_validates_against_the_github_workflow_schema(
    rendered: dict[str, Path],
) -> None:
    done = run(
        tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *rendered.values()
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """The schema check is real: a job without `runs-on` and a bad trigger fail it."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: {pusj: {}}\njobs:\n  a:\n    steps:\n      - run: true\n")
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", bad)
    assert done.returncode == 1, done.stdout + done.stderr


def zizmor(*paths: Path) -> list[dict[str, Any]]:
    # --offline: no network; only the audits that need the GitHub API are left out.
    # --no-config: no zizmor.yml of this repository can silence a finding.
    done = run(tool("zizmor"), "--offline", "--no-config", "--format", "json", *paths)
    assert done.returncode in (0, 10, 11, 12, 13, 14), done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings


def test_zizmor_reports_nothing_on_any_variation(rendered: dict[str, Path]) -> None:
    findings = zizmor(*rendered.values())
    assert findings == [], json.dumps(findings, indent=1)[:4000]


def test_zizmor_really_audits_a_bad_workflow(tmp_path: Path) -> None:
    """Proof the audits ran: the mistakes the generated workflow avoids are each reported
    (no `permissions:` block means the token's broad defaults)."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request_target\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "        with:\n"
        "          ref: ${{ github.event.pull_request.head.sha }}\n"
        "      - run: echo '${{ github.event.pull_request.title }}'\n"
    )
    found = {f["ident"] for f in zizmor(bad)}
    expected = {
        "dangerous-triggers",
        "excessive-permissions",
        "unpinned-uses",
        "artipacked",
        "template-injection",
    }
    assert expected <= found, found


def test_yamllint_passes_on_every_variation(rendered: dict[str, Path]) -> None:
    done = run(tool("yamllint"), "--strict", "-c", YAMLLINT_CONFIG, *rendered.values())
    assert done.returncode == 0, done.stdout + done.stderr


def test_yamllint_config_still_catches_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on:\n  push:\n   branches: [ main ]\nkey: 1\nkey: 2\n")
    done = run(tool("yamllint"), "--strict", "-c", YAMLLINT_CONFIG, bad)
    assert done.returncode != 0
    assert "duplication of key" in done.stdout and "indentation" in done.stdout


def load(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_security_properties_of_every_variation(rendered: dict[str, Path]) -> None:
    pins = load_pins()
    for key, path in rendered.items():
        text = path.read_text(encoding="utf-8")
        workflow = load(path)
        triggers = workflow[True]  # PyYAML reads the key `on` as the boolean true
        assert set(triggers) == {"push", "pull_request"}, key
        assert "pull_request_target" not in text, key
        assert workflow["permissions"] == {"contents": "read"}, key
        assert workflow["concurrency"]["cancel-in-progress"] == (
            "${{ github.event_name == 'pull_request' }}"
        ), key
        assert workflow["env"]["CARGO_INCREMENTAL"] == 0, key
        assert workflow["env"]["CARGO_TERM_COLOR"] == "always", key
        for name, job in workflow["jobs"].items():
            assert "permissions" not in job, (key, name)
            assert isinstance(job["timeout-minutes"], int), (key, name)
        for step in steps(workflow):
            assert "${{" not in step.get("run", ""), (key, step)
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, (key, step)
        # Every `uses:` is the pinned commit, with the pin's ref as the comment.
        uses_lines = re.findall(r"uses: (\S+)@(\S+) # (\S+)$", text, re.M)
        assert uses_lines and len(uses_lines) == text.count("uses: "), key
        for action, sha, ref in uses_lines:
            assert (sha, ref) == (pins.actions[action].sha, pins.actions[action].ref), key


def test_profile_switches_the_jobs(rendered: dict[str, Path]) -> None:
    on = load(rendered["seedlike-hakari_on-nextest_on-ubuntu+macos"])
    off = load(rendered["seedlike-hakari_off-nextest_off-ubuntu"])
    assert set(on["jobs"]) == {"lint", "test", "hakari", "buildkit"}
    assert set(off["jobs"]) == {"lint", "test", "buildkit"}
    assert on["jobs"]["test"]["strategy"]["matrix"]["os"] == ["ubuntu-latest", "macos-latest"]
    assert off["jobs"]["test"]["strategy"]["matrix"]["os"] == ["ubuntu-latest"]
    on_runs = [s.get("run", "") for s in on["jobs"]["test"]["steps"]]
    off_runs = [s.get("run", "") for s in off["jobs"]["test"]["steps"]]
    assert "cargo nextest run --workspace --no-tests=warn" in on_runs
    assert "cargo test --workspace" in off_runs and not any("nextest" in r for r in off_runs)
    hakari_runs = [s.get("run") for s in on["jobs"]["hakari"]["steps"] if "run" in s]
    assert hakari_runs == [
        "cargo hakari generate --diff",
        "cargo hakari manage-deps --dry-run",
        "cargo hakari verify",
    ]
    tools = [s["with"]["tool"] for s in steps(on) if "install-action" in s.get("uses", "")]
    assert f"cargo-hakari@{pinned_tool('cargo-hakari')}" in tools and "cargo-nextest" in tools
    # buildkit check needs cargo-hakari when hakari is on, and only then.
    assert not any("install-action" in s.get("uses", "") for s in off["jobs"]["buildkit"]["steps"])


def test_options_reach_the_workflow(rendered: dict[str, Path]) -> None:
    workflow = load(rendered["example-options"])
    assert "buildkit" not in workflow["jobs"]
    # rust-toolchain.toml wins over ci.toolchain, so CI and laptops use the same compiler.
    toolchains = {
        s["with"]["toolchain"] for s in steps(workflow) if "rust-toolchain" in s.get("uses", "")
    }
    assert toolchains == {"1.95.0"}
    lint = [s.get("run", "") for s in workflow["jobs"]["lint"]["steps"]]
    assert "cargo clippy --workspace --all-targets --locked" in lint
    assert any("apt-get install -y --no-install-recommends lld" in r for r in lint)
    assert workflow["env"]["CARGO_BUILD_BUILD_DIR"] == "target"
    # clippy_deny_warnings goes on clippy's command line, never into RUSTFLAGS.
    assert "RUSTFLAGS" not in rendered["example-options"].read_text()


def test_the_team_cache_reaches_the_workflow_with_secrets_by_name(
    rendered: dict[str, Path],
) -> None:
    workflow = load(rendered["example-team-cache"])
    mode = workflow["env"]["BUILDKIT_CACHE_REMOTE"]
    # pushes write, pull requests of the repository's own branches read, forks read
    assert mode.startswith("${{ github.event_name == 'push' && 'read-write'")
    assert "github.event.pull_request.head.repo.full_name == github.repository" in mode
    assert mode.endswith("&& 'read-only' || 'read-only' }}")
    for name, job in workflow["jobs"].items():
        if name not in ("lint", "test", "msrv"):
            continue
        names = [step.get("name", step.get("uses", "")) for step in job["steps"]]
        install = names.index(
            "Install sccache (the team's compiler cache, cache.remote in buildkit.yaml)"
        )
        assert names[-1] == "Compiler cache statistics", (name, names)
        assert "rustc-wrapper --stats" in job["steps"][-1]["run"]
        assert "GITHUB_STEP_SUMMARY" in job["steps"][-1]["run"]
        wanted = f"sccache=={pinned_tool('sccache')}"
        assert job["steps"][install]["env"]["SCCACHE_REQUIREMENT"] == wanted
        for step in job["steps"]:
            secret = step.get("env", {}).get("TEAM_CACHE_PASSWORD")
            # the secret only where cargo runs, never for a third-party action
            if step.get("run", "").startswith("cargo ") and not step["run"].startswith("cargo fmt"):
                assert secret == "${{ secrets.TEAM_CACHE_PASSWORD }}", (name, step)
            else:
                assert secret is None, (name, step)
            if "uses" in step and "rust-cache" in step["uses"]:
                assert step["with"]["cache-targets"] == "false"
    assert "TEAM_CACHE_PASSWORD" not in str(workflow["env"])


def test_kind_gha_hands_the_runner_variables_only_to_its_own_jobs_steps(
    rendered: dict[str, Path],
) -> None:
    workflow = load(rendered["example-team-cache-gha"])
    assert workflow["permissions"] == {"contents": "read"}  # nothing more for the cache
    for name in ("lint", "test"):
        job_steps = workflow["jobs"][name]["steps"]
        names = [step.get("name", "") for step in job_steps]
        handing = names.index("Hand sccache the GitHub Actions cache (cache.remote kind gha)")
        # after sccache is installed, before any cargo step
        assert names[handing - 1].startswith("Install sccache")
        assert not any(s.get("run", "").startswith("cargo ") for s in job_steps[:handing])
        step = job_steps[handing]
        assert step["if"] == "${{ env.BUILDKIT_CACHE_REMOTE != 'off' }}"
        assert step["uses"].startswith("actions/github-script@")
        assert "${{" not in step["with"]["script"]  # nothing for zizmor's template-injection
        assert "core.setSecret(value)" in step["with"]["script"]
    # no other job gets the token (they do not build through the cache)
    for name in set(workflow["jobs"]) - {"lint", "test"}:
        assert "github-script" not in str(workflow["jobs"][name]), name
    redis = load(rendered["example-team-cache"])
    assert "github-script" not in rendered["example-team-cache"].read_text(), redis
