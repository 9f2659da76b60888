"""The examples in the package's docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import mpikeras

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(mpikeras.__path__, "mpikeras.")
    if not name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    reports: list[str] = []
    for test in finder.find(module, name, globs={"np": np, **vars(module)}):
        runner.run(test, out=reports.append)
    assert runner.failures == 0, "\n".join(reports)
