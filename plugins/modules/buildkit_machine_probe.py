#!/usr/bin/python
"""Read buildkit's files and what they need on a host, in one round trip; changes nothing."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: buildkit_machine_probe
short_description: Read buildkit's files in a user's home and check what they need
description:
  - Runs on the host for the C(buildkit_machine_plan) action, which computes the files on the
    controller with buildkit's render pipeline. Reads each file (text and mode), finds cargo,
    checks perl, util-linux's flock and setsid, and which folders cannot be written, and asks
    the installed cargo-hakari for its version. Changes nothing.
options:
  paths:
    description: Absolute paths of buildkit's files in the home.
    type: list
    elements: path
    required: true
  cargo:
    description: The cargo program (a name looked up on PATH, or a path).
    type: str
    default: cargo
  cargo_home:
    description: Cargo's home (its bin/ is searched for cargo and cargo-hakari).
    type: path
    required: true
  home:
    description: The user's home directory.
    type: path
    required: true
author: buildkit
"""

EXAMPLES = r"""
- name: Read buildkit's files
  buildkit_machine_probe:
    paths: [/home/me/.bashrc]
    cargo_home: /home/me/.cargo
    home: /home/me
"""

RETURN = r"""
files:
  description: Per path, its text (null when missing) and mode.
  returned: always
  type: dict
cargo:
  description: The cargo program found, or null.
  returned: always
  type: str
perl:
  description: Whether perl can lock files and start process groups.
  returned: always
  type: bool
flock_setsid:
  description: Whether util-linux's flock and setsid are on PATH.
  returned: always
  type: bool
unwritable:
  description: Folders buildkit's files go in that this user cannot write.
  returned: always
  type: list
hakari_version:
  description: The version CARGO_HOME/bin/cargo-hakari reports, or null.
  returned: always
  type: str
"""

import os
import re
import shutil
import stat
import subprocess

from ansible.module_utils.basic import AnsibleModule


def read(path):
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return {"content": None, "mode": None}, None
    except OSError as exc:
        return None, "%s: cannot read it (%s)" % (path, exc.strerror)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "%s: not UTF-8 text; fix or remove the file" % path
    # universal newlines, as buildkit reads a file on the controller
    return {"content": text.replace("\r\n", "\n").replace("\r", "\n"), "mode": mode}, None


def nearest_existing(path):
    folder = os.path.dirname(path)
    while folder and not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def find_cargo(program, cargo_home, home):
    if os.sep in program:
        return program if os.access(program, os.X_OK) else None
    found = shutil.which(program)
    if found:
        return found
    for folder in (os.path.join(cargo_home, "bin"), os.path.join(home, ".cargo", "bin")):
        candidate = os.path.join(folder, program)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def succeeds(argv):
    try:
        return subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def hakari_version(cargo_home):
    program = os.path.join(cargo_home, "bin", "cargo-hakari")
    try:
        ran = subprocess.run([program, "hakari", "--version"], capture_output=True, text=True)
    except OSError:
        return None
    match = re.search(r"cargo-hakari (\S+)", ran.stdout)
    return match.group(1) if ran.returncode == 0 and match else None


def main():
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "path", "required": True},
            "cargo": {"type": "str", "default": "cargo"},
            "cargo_home": {"type": "path", "required": True},
            "home": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    files = {}
    unwritable = []
    for path in params["paths"]:
        found, error = read(path)
        if error:
            module.fail_json(msg=error + "; fix or remove the file")
        files[path] = found
        # ansible writes a file through a temporary file beside it: its folder must be writable
        folder = nearest_existing(path)
        if not os.access(folder, os.W_OK) and folder not in unwritable:
            unwritable.append(folder)
    module.exit_json(
        changed=False,
        files=files,
        cargo=find_cargo(params["cargo"], params["cargo_home"], params["home"]),
        perl=succeeds(["perl", "-MFcntl=:flock", "-MPOSIX=setpgid", "-e", "1"]),
        flock_setsid=bool(shutil.which("flock") and shutil.which("setsid")),
        unwritable=unwritable,
        hakari_version=hakari_version(params["cargo_home"]),
    )


if __name__ == "__main__":
    main()
