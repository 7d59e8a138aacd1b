"""The fuzz properties' share of this process (``OUTPOST_FUZZ_SHARD=i/n``: make fuzz runs one process
a core) and the count of cases each one ran, printed at the end (and written to
``OUTPOST_FUZZ_REPORT`` when set, for make fuzz to add up). Profiles: tests/fuzz/budget.py."""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

import tests.fuzz.budget  # noqa: F401 - registers and loads the profiles before any property is made

_CASES = pytest.StashKey[Counter]()
_STARTED = pytest.StashKey[float]()


def _shard() -> tuple[int, int]:
    index, _, count = os.environ.get("OUTPOST_FUZZ_SHARD", "0/1").partition("/")
    return int(index), int(count)


def _counted(test: Callable[..., Any], cases: Counter, key: str) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        cases[key] += 1
        return test(*args, **kwargs)
    return run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep this process's share of the properties, and count every case each one runs (hypothesis
    lets the function it calls per case be wrapped: ``.hypothesis.inner_test``)."""
    index, count = _shard()
    cases: Counter = config.stash.setdefault(_CASES, Counter())
    config.stash[_STARTED] = time.monotonic()
    fuzz = [i for i in items if isinstance(i, pytest.Function) and Path(str(i.path)).parent == Path(__file__).parent]
    mine = set(fuzz[index::count])
    items[:] = [i for i in items if i not in fuzz or i in mine]
    for item in mine:
        handle = getattr(item.obj, "hypothesis", None)
        if handle is not None:
            handle.inner_test = _counted(handle.inner_test, cases, item.nodeid.rsplit("/", 1)[-1])


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    cases = config.stash.get(_CASES, None)
    if not cases:
        return
    seconds = time.monotonic() - config.stash[_STARTED]
    profile = settings.get_current_profile_name()
    terminalreporter.section(f"fuzz cases ({profile} profile)")
    for name, n in sorted(cases.items()):
        terminalreporter.write_line(f"{n:>9,}  {name}")
    terminalreporter.write_line(f"{sum(cases.values()):>9,}  in all, {seconds:.0f} s")
    seed = config.getoption("hypothesis_seed", None)
    if exitstatus != 0 and seed is not None:
        terminalreporter.write_line(f"a property failed: run again with --hypothesis-seed={seed}")
    report = os.environ.get("OUTPOST_FUZZ_REPORT")
    if report:  # make fuzz adds up its processes' counts from these
        Path(report).write_text(json.dumps({"cases": dict(cases), "seconds": seconds}))
