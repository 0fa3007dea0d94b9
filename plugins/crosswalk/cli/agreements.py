"""``crosswalk agreements``: the data-sharing agreements, as an IG officer reads them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crosswalk.cli._common import config_parent, iso_date


def register(sub) -> None:
    ag = sub.add_parser("agreements", help="data-sharing agreements, as an IG officer reads them")
    ag_sub = ag.add_subparsers(dest="agreements_command", required=True)
    common = config_parent()
    common.add_argument("--on", type=iso_date, default=None, help="status as of this day (default: today)")
    ag_sub.add_parser("list", parents=[common], help="every agreement: version in force, status, recipients")
    show = ag_sub.add_parser("show", parents=[common], help="one agreement in full: who receives which fields")
    show.add_argument("ref", help="ID (the version in force, else the latest) or ID@VERSION")
    diff = ag_sub.add_parser("diff", parents=[common], help="what changed between two versions")
    diff.add_argument("old", help="ID@VERSION")
    diff.add_argument("new", help="ID@VERSION")
    reg = ag_sub.add_parser("register", parents=[common], help="write the register as Markdown and HTML")
    reg.add_argument("-o", "--output", default="register", help="directory for register.md and register.html")
    ag.set_defaults(func=run)


def _context(args: argparse.Namespace):
    from datetime import date

    from crosswalk.config.loader import load_config

    cfg = load_config(args.config, args.schemas, check_descriptors=False)
    names = {code: p.name for code, p in cfg.partners.items()}
    names[cfg.settings.operator.code] = cfg.settings.operator.name
    return cfg, names, args.on or date.today()


def run(args: argparse.Namespace) -> int:
    from crosswalk.agreements import views
    from crosswalk.errors import ConfigErrors

    try:
        cfg, names, today = _context(args)
        if args.agreements_command == "list":
            print(views.list_text(cfg.agreements, names, today))
        elif args.agreements_command == "show":
            a = views.parse_ref(args.ref, cfg.agreements, today)
            print(views.show_text(a, cfg.agreements[a.id], names, today))
        elif args.agreements_command == "diff":
            old, new = (views.parse_ref(r, cfg.agreements, today) for r in (args.old, args.new))
            print(views.diff_text(old, new))
        else:  # register
            out = Path(args.output)
            out.mkdir(parents=True, exist_ok=True)
            (out / "register.md").write_text(views.register_markdown(cfg.agreements, names, today), encoding="utf-8")
            (out / "register.html").write_text(views.register_html(cfg.agreements, names, today), encoding="utf-8")
            print(f"Wrote {out / 'register.md'} and {out / 'register.html'} ({len(cfg.agreements)} agreement(s))")
    except (ConfigErrors, views.UnknownAgreement) as exc:
        print(f"crosswalk agreements: {exc}", file=sys.stderr)
        return 1
    return 0
