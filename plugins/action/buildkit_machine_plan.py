"""Compute one host's buildkit files on the controller, from that host's facts.

The role's first task. It runs buildkit's render pipeline (the code behind `buildkit render`
and `buildkit provision`, imported from the buildkit package installed next to ansible) with
the host's facts, after reading the host's current files with the buildkit_machine_probe
module, and returns the files to write; the role writes them with ansible.builtin.copy, so
--check --diff works per host. A host that lacks something, or whose buildkit part was edited
by hand, fails with one line; the other hosts go on.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
action: buildkit_machine_plan
short_description: Compute buildkit's files for one host from its facts
description:
  - Runs on the controller with buildkit's render pipeline and ownership rules; needs
    C(pip install 'buildkit-rs[machine]') in the Python that runs ansible.
options:
  profile:
    description: A repository with buildkit.yaml, or the file, on the controller.
    type: str
    required: true
  system:
    description: The host's platform (Linux, Darwin).
    type: str
    required: true
  home:
    description: The user's home directory on the host.
    type: str
    required: true
  cargo_home:
    description: Cargo's home on the host (empty for ~/.cargo).
    type: str
  data_home:
    description: The host's XDG_DATA_HOME (empty for ~/.local/share); the pinned sccache goes there.
    type: str
  login_shell:
    description: The user's login shell (machine.shell auto picks its rc file).
    type: str
  cargo:
    description: The cargo program on the host.
    type: str
  force:
    description: Overwrite a hand edit of buildkit's part.
    type: bool
  install_hakari:
    description: Override machine.install_hakari (null keeps the profile's).
    type: bool
  hakari_version:
    description: The cargo-hakari version (null is the one pinned in ci/pins.yaml).
    type: str
  fast_linker:
    description: Override machine.fast_linker (null keeps the profile's).
    type: str
  install_sccache:
    description: Install the pinned sccache (null, when cache.engine is sccache).
    type: bool
"""

from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

MISSING_BUILDKIT = (
    "buildkit is not installed in the Python that runs ansible on the controller; install it "
    "there with: pip install 'buildkit-rs[machine]'"
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        host = task_vars.get("inventory_hostname", "?")
        try:
            from buildkit import fleet
            from buildkit.errors import BuildkitError
        except ImportError:
            return {**result, "failed": True, "msg": f"{host}: {MISSING_BUILDKIT}"}
        args = self._task.args

        def option(name: str) -> Any:
            value = args.get(name)
            return None if value is None or value == "" else value

        try:
            profile = fleet.load(str(args.get("profile") or ""))
            machine = fleet.machine_of(args)
            request = fleet.probe_request(profile, machine, str(args.get("cargo") or "cargo"))
            probed = self._execute_module(
                module_name="buildkit_machine_probe", module_args=request, task_vars=task_vars
            )
            if probed.get("failed"):
                return {**result, "failed": True, "msg": f"{host}: {probed.get('msg')}"}
            plan = fleet.plan_host(
                host,
                profile,
                machine,
                fleet.Probe.from_result(probed),
                force=boolean(args.get("force") or False),
                install_hakari=None
                if option("install_hakari") is None
                else boolean(option("install_hakari")),
                hakari_version=option("hakari_version"),
                fast_linker=option("fast_linker"),
                install_sccache=None
                if option("install_sccache") is None
                else boolean(option("install_sccache")),
            )
        except BuildkitError as exc:
            return {**result, "failed": True, "msg": f"{host}: {exc}"}
        return {**result, **plan.result()}
