"""gc's deletion phase, run as ``python -m buildkit.diagnose.gc_worker REQUEST RESULT`` under
``cq exec`` so it holds the build queue while it scans and deletes.

A module of its own, imported by nothing: ``python -m`` on a module that the package's
``__init__`` already imported prints a RuntimeWarning (runpy) before running it twice.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from buildkit.diagnose.gc import collect


def main(argv: list[str]) -> int:
    request_file, result_file = argv
    request = json.loads(Path(request_file).read_text(encoding="utf-8"))
    max_size = request.get("max_size")
    result = collect(
        Path(request["root"]),
        dry_run=False,
        keep=int(request["keep"]),
        seconds=int(request["seconds"]),
        queue_note=str(request["queue"]),
        max_size=int(max_size) if max_size is not None else None,
    )
    Path(result_file).write_text(json.dumps(result.to_json()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
