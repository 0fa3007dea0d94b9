from __future__ import annotations

import pytest

from crosswalk.errors import ConfigError, FatalError
from crosswalk.orchestration.connection_types import connection


def test_missing_connection_is_a_fatal_config_error_naming_it():
    with pytest.raises(ConfigError, match="connection crosswalk_nowhere: conn_id: not defined") as exc:
        connection("crosswalk_nowhere")
    assert isinstance(exc.value, FatalError)  # so the task fails at once instead of retrying
