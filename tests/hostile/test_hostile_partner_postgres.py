"""The hostile-partner suite on PostgreSQL: the same tests as ``test_hostile_partner.py``, in a module of its
own so that a parallel worker runs this day beside the SQLite one."""

from tests.hostile.test_hostile_partner import *  # noqa: F403  (the same tests, collected here again)

DATABASE = "postgres"
