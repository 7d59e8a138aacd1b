"""A loop longer than one document holds runs as several documents, each within the limit, in order."""
from __future__ import annotations

import pytest

from controller.cli.ansible_tasks import _rounds
from plugins.sdk.wire.document import MAX_DOCUMENT_BYTES, Step, document_from_bytes


@pytest.mark.parametrize("count", [0, 1, 10, 1500])
def test_rounds_fit_and_keep_the_order(count: int) -> None:
    steps = tuple(Step(name=f"echo #{i}", action="shell", inputs={"cmd": f"echo {i} " + "x" * 100})
                  for i in range(count))
    docs = _rounds(steps, "loop")
    assert all(len(d) <= MAX_DOCUMENT_BYTES for d in docs)
    names = [s.name for d in docs for s in document_from_bytes(d).steps]
    assert names == [s.name for s in steps]
    assert len(docs) == (0 if not count else 1 if count <= 10 else len(docs))
    if count == 1500:
        assert len(docs) > 1
