"""The README's tour runs as written (it once caught a real bug in the logistic utility)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.skipif(not README.exists(), reason="README.md not beside the tests")
def test_readme_tour_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    namespace: dict = {}
    exec(compile("\n".join(blocks), str(README), "exec"), namespace)
    r, m, v = namespace["r"], namespace["m"], namespace["v"]
    assert r.dfbeta.shape == (569, 31) and m.dcoef.shape == (569, 31) and v.values.shape == (200,)
