"""The report's charts: well-formed SVG whatever the labels hold, every label escaped, the figures in the
accessible summary, bars sized in proportion."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from crosswalk import charts

SVG = "{http://www.w3.org/2000/svg}"


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_stacked_bars_stack_each_category_and_say_the_totals():
    svg = charts.stacked_bars("Files by week", ["2026-W47", "2026-W48"], {"council": [3, 1], "board": [1, 0]})
    root = parsed(svg)
    assert root.get("aria-label") == "Files by week: 2026-W47 4; 2026-W48 1"
    heights = [float(r.get("height")) for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(heights) == 3 and abs(heights[0] / heights[2] - 3.0) < 0.01  # council's 3 against its 1


def test_labels_are_escaped_never_markup():
    hostile = '<script>alert(1)</script> & "quotes"'
    for svg in (
        charts.stacked_bars(hostile, [hostile], {hostile: [1]}),
        charts.histogram(hostile, [0, 0.5, 1], [1, 2], [(0.5, 0.9, hostile)]),
        charts.signed_bars(hostile, [hostile], [1.5]),
        charts.waterfall(hostile, (hostile, -3.0), [(hostile, 2.0)], total_label=hostile),
    ):
        root = parsed(svg)  # well-formed
        assert "<script>" not in svg and not list(root.iter(f"{SVG}script"))
        assert "&lt;script&gt;" in svg


def test_the_histogram_shades_the_band_and_counts_every_record():
    svg = charts.histogram("Scores", [i / 4 for i in range(5)], [5, 0, 2, 10], [(0.5, 0.9, "review band")])
    assert parsed(svg).get("aria-label") == "Scores: 17 in 4 bins from 0 to 1"
    assert "review band" in svg and 'fill="#fff7bf"' in svg
    assert len(re.findall(r"<title>[0-9.]+ to [0-9.]+: \d+</title>", svg)) == 3  # an empty bin draws nothing


def test_signed_bars_put_evidence_against_to_the_left():
    root = parsed(charts.signed_bars("Weights", ["for", "against"], [4.0, -2.0]))
    zero = float(next(root.iter(f"{SVG}line")).get("x1"))
    bars = [r for r in root.iter(f"{SVG}rect")]
    assert float(bars[0].get("x")) == zero and float(bars[1].get("x")) < zero
    assert abs(float(bars[0].get("width")) / float(bars[1].get("width")) - 2.0) < 0.01


def test_the_waterfall_runs_from_the_prior_to_the_total():
    svg = charts.waterfall("A pair", ("prior", -9.0), [("surname", 6.0), ("date of birth", 8.0)], total_label="total")
    assert parsed(svg).get("aria-label") == "A pair: starts at -9.00, ends at +5.00 after 2 step(s)"
    assert "<title>total: +5.00</title>" in svg
