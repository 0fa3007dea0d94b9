"""The documentation cannot drift from the code: every block marked ``sh`` in README.md and docs/ runs, as written,
in order, in one shell per file; every ``crosswalk`` command line in any block parses with the command's own
parser; the partner reason codes and their advice are the ones the code gives; links resolve; the README stays a
short front door.

A block marked ``sh`` runs in a fresh directory with the project's ``crosswalk`` on PATH (or in the repository root,
for a file whose first line says ``<!-- docs-test: run in the repository root -->``). Blocks marked ``shell`` or
``text`` show what needs a deployment or a server (`make demo` and `make test` are run by the suite itself)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from crosswalk.cli import build_parser
from crosswalk.errors import partner_reason_codes
from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
IN_REPO_ROOT = "<!-- docs-test: run in the repository root -->"


def blocks(doc: Path, language: str | None = None) -> list[str]:
    return [body for lang, body in FENCE.findall(doc.read_text()) if language is None or lang == language]


def test_every_audience_has_its_document():
    names = {d.name for d in DOCS}
    assert {"partners.md", "deploy.md", "governance.md", "matching.md", "operations.md", "architecture.md"} <= names
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < 120
    for name in ("partners", "deploy", "governance", "matching", "operations", "architecture"):
        assert f"(docs/{name}.md)" in readme


@pytest.mark.parametrize("doc", [d for d in DOCS if blocks(d, "sh")], ids=lambda d: d.name)
def test_the_runnable_blocks_run(doc, tmp_path):
    script = "\n".join(blocks(doc, "sh"))
    in_root = doc.read_text().startswith(IN_REPO_ROOT)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW_CONN_")}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=REPO if in_root else tmp_path, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, (
        f"{doc.name}: exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    assert "Traceback" not in result.stderr


def command_lines(text: str) -> list[str]:
    """Each ``crosswalk …`` command in a block, continuation lines joined, comments and placeholders left as
    words (a placeholder like <batch> is a word to the parser)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip().removeprefix("$ ")
        if line.startswith("crosswalk "):
            words = shlex.split(line, comments=True)
            for sep in ("&&", "|", ">", "2>"):  # the command ends where the shell takes over
                if sep in words:
                    words = words[: words.index(sep)]
            out.append(words)
    return out


def test_every_crosswalk_command_in_the_docs_parses():
    parser = build_parser()
    seen = 0
    for doc in DOCS:
        for block in blocks(doc):
            for words in command_lines(block):
                seen += 1
                try:
                    parser.parse_args(words[1:])
                except SystemExit as exc:
                    pytest.fail(f"{doc.name}: `{' '.join(words)}` does not parse (exit {exc.code})")
    assert seen > 30  # the docs' commands were found


def test_the_partner_reason_codes_are_the_codes_the_code_gives():
    text = (REPO / "docs" / "partners.md").read_text().split("## Reason codes", 1)[1]
    table = dict(re.findall(r"^\| `([a-z_]+)` \| (.+) \|$", text, re.M))
    assert table == partner_reason_codes()


def test_every_relative_link_resolves():
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" not in target:
                assert (doc.parent / target).exists(), f"{doc.name}: {target}"
