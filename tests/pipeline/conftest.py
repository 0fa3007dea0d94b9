"""The flows' unit tests run on :func:`tests.support.offline.offline_project`: no server, no Airflow."""

from __future__ import annotations

import pytest

from crosswalk import workroot
from tests.support.offline import Offline, offline_project


@pytest.fixture
def offline(tmp_path, monkeypatch) -> Offline:
    monkeypatch.setenv(workroot.ENV, str(tmp_path / "work-root"))
    project = offline_project(tmp_path)
    yield project
    project.engine.dispose()
