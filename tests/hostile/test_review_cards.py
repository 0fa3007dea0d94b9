"""A review card is data, never layout: what a hostile partner typed into a record, one kind of Markdown or HTML per
field, shown on the card as text in its cell. Rendered as the Airflow UI renders a Required Action's body, in
headless Chromium; the card in the real Airflow UI is tested in tests/integration/test_stack.py."""

from __future__ import annotations

from tests.pipeline.conftest import offline  # noqa: F401 (a fixture)
from tests.pipeline.test_flows_offline import staged  # noqa: F401 (a fixture)

# What a hostile partner types into a record, one kind of Markdown or HTML per field: a line break that starts a
# row of its own, a table row claiming a check nobody made, an image that would call the sender's server whenever
# a reviewer opens the card, a link, emphasis, raw HTML, an autolink, backticks that would close a code span.
HOSTILE = {
    "forename": "Ann\n| SAME PERSON | **checked by NHS** | yes |",
    "surname": "![x]({beacon}) Smith",
    "date_of_birth": "[1901-01-01](https://evil.example/phish)",
    "sex": "<img src={beacon}>F",
    "postcode": "``NS1`` 1AA ` <b>",
    "address_line1": "*1* _High_ ~~St~~ www.evil.example/{beacon}",
}


def _render_in_chromium(markdown_text: str, tmp_path) -> str:
    """The card as the Airflow UI renders a Required Action's body (CommonMark with GFM tables, strikethrough and
    autolinks; raw HTML skipped), loaded in headless Chromium; the DOM it built."""
    import shutil
    import subprocess

    from markdown_it import MarkdownIt

    from tests.support.env import require

    chromium = shutil.which("chromium")
    require(None if chromium else "chromium is not installed (apt-get install chromium)")
    md = MarkdownIt("commonmark", {"html": False, "linkify": True}).enable(["table", "strikethrough", "linkify"])
    page = tmp_path / "card.html"
    page.write_text(f"<!doctype html><html><body>{md.render(markdown_text)}</body></html>")
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


def test_a_review_card_shows_what_a_partner_typed_as_data_never_as_layout(staged, tmp_path):  # noqa: F811
    import html.parser

    from sqlalchemy import text

    from crosswalk.pipeline.match import match_batch
    from crosswalk.pipeline.review import cards, pending
    from tests.support.webhook import Webhook

    box = Webhook()  # the sender's server, counting what a reviewer's browser would fetch from it
    hits = box.gets
    beacon = box.url.rsplit("/hooks/", 1)[0] + "/beacon.png"
    values = {k: v.replace("{beacon}", beacon) for k, v in HOSTILE.items()}

    feed = staged.cfg.inbound("council-clients")
    with staged.engine.connect() as conn:
        (batch,) = conn.execute(text("SELECT batch_id FROM batch WHERE feed_id = 'council-clients'")).scalars()
    match_batch(staged.engine, staged.audit("match"), staged.cfg, feed, batch)
    with staged.engine.begin() as conn:
        one = "SELECT source_record_id FROM crosswalk WHERE match_weight IS NOT NULL AND match_weight < 100 LIMIT 1"
        conn.execute(text(f"UPDATE crosswalk SET band = 'review' WHERE source_record_id = ({one})"))
    (pair,) = pending(staged.engine, feed.id)[:1]
    has = {t: set(staged.cfg.schemas[t].field_names) for t in ("social_care_client", "health_board_index")}
    with staged.engine.begin() as conn:  # both records of the pair, every person field each has: hostile
        for table, id_column, record in (("social_care_client", "source_id", pair.source_record_id),
                                         ("health_board_index", "chi_number", pair.candidate_record_id)):  # fmt: skip
            sets = ", ".join(f"{k} = :{k}" for k in values if k in has[table])
            conn.execute(text(f"UPDATE stg_{table} SET {sets} WHERE {id_column} = :id"), {**values, "id": record})
    (card,) = cards(staged.cfg, staged.engine, feed, [pair])
    dom = _render_in_chromium(card["body"], tmp_path)
    box.close()

    class Cells(html.parser.HTMLParser):
        """The first table's rows, each cell's text; and every element that would be layout or a request."""

        def __init__(self):
            super().__init__()
            self.tables, self.rows, self.cell, self.layout = 0, [], None, []

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.tables += 1
            elif tag == "tr" and self.tables == 1:
                self.rows.append([])
            elif tag in ("td", "th") and self.tables == 1:
                self.cell = []
            elif tag in ("img", "a", "strong", "em", "del", "b", "script", "iframe"):
                self.layout.append((self.tables, tag))

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None and self.tables == 1:
                self.rows[-1].append("".join(self.cell))
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data)

    parsed = Cells()
    parsed.feed(dom)
    assert not hits  # no request to the sender's server: there is no image
    # In the side-by-side table: one row per field, no row of the sender's making, no link, emphasis or image.
    fields = set(staged.cfg.schemas["social_care_client"].field_names) | set(
        staged.cfg.schemas["health_board_index"].field_names
    )
    assert parsed.rows[0][0] == "field" and set(values) <= {r[0] for r in parsed.rows[1:]} <= fields
    assert all(len(r) == 3 for r in parsed.rows)
    assert not [t for n, t in parsed.layout if n == 1]
    shown = {r[0]: r[1:] for r in parsed.rows[1:]}
    for name, value in values.items():  # each value, character for character (a line break shown as ⏎)
        expected = [value.replace("\n", "\u23ce") if name in has[t] else "(not shown)" for t in has]
        assert shown[name] == expected, name
