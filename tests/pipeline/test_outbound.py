"""The extract a partner receives is CSV any parser reads back row for row, whatever the staged values hold."""

from __future__ import annotations

import csv
import io

from crosswalk.agreements.egress import EgressPlan
from crosswalk.pipeline import outbound

PLAN = EgressPlan("isp", 1, "ds", "nhs", 2, ("a", "b", "c"), ("a", "b", "c"), (), {})


def test_a_carriage_return_inside_a_value_is_quoted_not_sent_bare(tmp_path):
    """Python's csv writer (line terminator LF) leaves a lone CR unquoted; a partner's parser would end the row
    there. Found by the property test in tests/agreements/test_setwise.py."""
    rows = [(None, "", "\r0"), ('x,"y', None, "a\nb"), ("plain", "1", "2")]
    outbound.write_extract([rows], PLAN, tmp_path / "x.csv")
    body = (tmp_path / "x.csv").read_bytes()
    assert body == b'a,b,c\n,,"\r0"\n"x,""y",,"a\nb"\nplain,1,2\n'
    assert list(csv.reader(io.StringIO(body.decode(), newline=""))) == [
        ["a", "b", "c"], ["", "", "\r0"], ['x,"y', "", "a\nb"], ["plain", "1", "2"]
    ]  # fmt: skip


def test_a_block_without_carriage_returns_is_written_by_the_c_writer_unchanged(tmp_path):
    rows = [("1", "two, three", 'say "hi"'), (None, None, None)]
    outbound.write_extract([rows], PLAN, tmp_path / "y.csv")
    assert (tmp_path / "y.csv").read_bytes() == b'a,b,c\n1,"two, three","say ""hi"""\n,,\n'
