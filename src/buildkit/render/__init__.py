"""Render a profile into a plan of artifacts, compare it with the disk, and write it."""
