"""The public API's documentation: every public function and result class has numpydoc sections,
and every example in a docstring runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import inspect

import pytest

import attrib

MODULES = [
    "attrib",
    "attrib.linear",
    "attrib.glm",
    "attrib.glm_multinomial",
    "attrib.shapley",
    "attrib.results",
    "attrib.datasets",
]
MODULES.append("attrib.trak")  # the TRAK family
MODULES += ["attrib.metrics", "attrib.selection", "attrib.projection"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    failed, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert failed == 0
    assert tried > 0


def _public_callables():
    for name in attrib.__all__:
        obj = getattr(attrib, name)
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj) and not issubclass(obj, (Warning, Exception)):
            yield name, obj


@pytest.mark.parametrize("name,obj", list(_public_callables()), ids=lambda v: v if isinstance(v, str) else "")
def test_public_api_has_numpydoc_sections(name, obj):
    doc = inspect.getdoc(obj) or ""
    if inspect.isfunction(obj):
        wanted = ["Returns\n-------", "Examples\n--------"]
        if inspect.signature(obj).parameters:
            wanted += ["Parameters\n----------", "Raises\n------"]
    else:  # result classes document their attributes
        wanted = ["Attributes\n----------"] if name != "AttributionResult" else []
    missing = [w.split("\n")[0] for w in wanted if w not in doc]
    assert not missing, f"{name} lacks {missing}"
