"""Diagnosis (``buildkit doctor``) and cleanup (``buildkit gc``) of Cargo target directories."""

from buildkit.diagnose.doctor import Report, render_text, run_doctor, stderr_progress
from buildkit.diagnose.gc import GcResult, parse_duration, run_gc
from buildkit.diagnose.gc import render_text as render_gc_text

__all__ = [
    "GcResult",
    "Report",
    "parse_duration",
    "render_gc_text",
    "render_text",
    "run_doctor",
    "run_gc",
    "stderr_progress",
]
