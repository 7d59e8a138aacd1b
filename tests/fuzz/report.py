"""``python -m tests.fuzz.report DIR``: the cases of make fuzz's processes (their OUTPOST_FUZZ_REPORT
files in DIR) added up, per property and in all."""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def main(directory: str) -> int:
    cases: Counter = Counter()
    seconds = 0.0
    for path in sorted(Path(directory).glob("*.json")):
        report = json.loads(path.read_text())
        cases.update(report["cases"])
        seconds = max(seconds, report["seconds"])
    for name, n in sorted(cases.items()):
        print(f"{n:>10,}  {name}")
    print(f"{sum(cases.values()):>10,}  cases in all, {seconds:.0f} s wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
