"""The fuzz profiles, and how many cases each property gets in the full run.

``OUTPOST_FUZZ_PROFILE`` picks the profile: ``ci`` when unset (``make test``: 10 cases a property,
the same ones every run), ``dev`` (1,000 a property, random), ``fuzz`` (``make fuzz``: each property
its own count, :func:`cases`, times ``OUTPOST_FUZZ_SCALE``; random, the seed printed by the
Makefile). No example database in any of them: a run is reproduced from its seed alone, never from
what an earlier run left on disk.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ = "fuzz"
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
          HealthCheck.filter_too_much]
_COMMON = dict(database=None, deadline=None, suppress_health_check=_QUIET, print_blob=True)
settings.register_profile("ci", max_examples=10, derandomize=True, **_COMMON)
settings.register_profile("dev", max_examples=1000, derandomize=False, **_COMMON)
settings.register_profile(FUZZ, derandomize=False, **_COMMON)
settings.load_profile(os.environ.get("OUTPOST_FUZZ_PROFILE", "ci"))


def cases(full: int) -> settings:
    """``full`` cases for this property in the full run (its share of the million: cheap properties
    get more); the profile's own count otherwise."""
    if settings.get_current_profile_name() != FUZZ:
        return settings()
    return settings(max_examples=max(1, round(full * float(os.environ.get("OUTPOST_FUZZ_SCALE", "1")))))
