"""Docs/Python.md's coverage table is the shim's registry (the modules' ``__all__``), regenerated
by ``python -m npusim.coverage --write Docs/Python.md``; every listed name is importable and
documented."""
import importlib
import os

from npusim import coverage

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Docs", "Python.md")


def test_the_docs_table_is_the_registry():
    with open(DOC) as f:
        text = f.read()
    table = text.split(coverage.START, 1)[1].split(coverage.END, 1)[0].strip()
    assert table == coverage.table(), "run: .venv/bin/python -m npusim.coverage --write Docs/Python.md"


def test_every_registered_name_exists_and_says_what_it_does():
    for value, paths in coverage.entries():
        for path in paths:
            module, name = path.rsplit(".", 1)
            assert getattr(importlib.import_module("npusim." + module), name) is value
        assert coverage._summary(value) != "—", paths
