"""Airflow's plugin manager imports every Python file under the plugins folder as a module named by its bare
file name (``bulk``, ``errors``, ``__main__``...). The compose stack sets AIRFLOW__CORE__PLUGINS_FOLDER to
plugins/, and a ``crosswalk/cli/__main__.py`` once made ``airflow scheduler`` run the crosswalk command instead
(loaded as ``__main__``, its guard was true). plugins/.airflowignore keeps the package out of plugin loading;
and no file of ours acts on being imported, should a deployment load it anyway."""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import io
import sys

import pytest

from tests.conftest import REPO

FILES = sorted((REPO / "plugins").rglob("*.py"))


def test_airflows_plugin_discovery_finds_no_file_of_the_package():
    from airflow._shared.module_loading import find_path_from_directory

    found = [p for p in find_path_from_directory(str(REPO / "plugins"), ".airflowignore") if p.endswith(".py")]
    assert found == []


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(REPO / "plugins")) for p in FILES])
def test_importing_a_file_as_the_plugin_manager_does_runs_nothing(path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["airflow", "scheduler"])
    name = path.stem  # the plugin manager's module name for a file in the plugins folder
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
    monkeypatch.setitem(sys.modules, name, module)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            loader.exec_module(module)
        except SystemExit as exc:
            pytest.fail(f"{path.name} exits on import ({exc.code!r})")
    assert out.getvalue() == "" and "usage:" not in err.getvalue()
