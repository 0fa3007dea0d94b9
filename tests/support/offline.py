"""A deployment with no server at all: the shipped config with fresh keys, each partner's SFTP area a local
directory (:mod:`tests.support.local_area`), the store an SQLite file. What the flows' unit tests run on;
the integration tests run the same pipelines on real sshd, PostgreSQL and Airflow."""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from crosswalk import partner as partner_side
from crosswalk.audit import AuditLog, RunContext
from crosswalk.config.loader import ProjectConfig, load_config
from crosswalk.crypto import sshsig
from crosswalk.demo import scene
from crosswalk.pipeline.inbound import InboundJob
from crosswalk.pipeline.outbound import OutboundJob
from crosswalk.staging.db import make_engine
from crosswalk.staging.migrations import upgrade
from tests.support.local_area import LocalArea, LocalBulk

COUNCIL, NHS = scene.COUNCIL, scene.NHS


@dataclass
class Offline:
    work: Path
    cfg: ProjectConfig
    keys: scene.Keys
    engine: Engine
    areas: dict[str, LocalArea]
    pseudonym_key: bytes
    disclosure_key: bytes = secrets.token_bytes(32)  # ours, for the per-person disclosure log

    def audit(self, task_id: str = "unit", run_id: str = "run-1") -> AuditLog:
        return AuditLog(self.engine, RunContext(dag_id="unit", run_id=run_id, task_id=task_id, run_type="manual"))

    def drop(self, partner: str, plain: Path, *, feed: str, schema_id: str) -> partner_side.DropFiles:
        """Drop as the partner would, into their outbox: data, manifest, signature, in that order."""
        files = partner_side.make_drop(
            plain, feed=feed, schema_id=schema_id, sender=partner, recipient=self.keys.ours.recipient,
            signing_key=self.keys.partner_signing[partner], tools=False,
        )  # fmt: skip
        outbox = self.cfg.partners[partner].sftp.paths.outbox
        for f in files.in_upload_order():
            shutil.copyfile(f, self.areas[partner].path(f"{outbox}/{f.name}"))
        return files

    def take_in(self, feed_id: str, plain: Path) -> str:
        """Drop ``plain`` as the feed's partner would and take it in as the inbound flow does; the batch id."""
        from crosswalk.pipeline.inbound import discover, ingest_drop

        feed = self.cfg.inbound(feed_id)
        self.drop(feed.partner, plain, feed=feed_id, schema_id=feed.schema_id)
        drop = discover(self.areas[feed.partner], self.cfg, feed, self.engine).new[0]
        result = ingest_drop(self.inbound_job(feed_id, self.audit("ingest")), drop)
        assert result.outcome == "staged", result
        return result.batch_id

    def take_in_lists(self, **people: dict) -> None:
        """Each governed person list the agreements name, taken in (empty, or ``people[feed] = {chis=...}``)."""
        from tests.support.project import LISTS, list_csv

        for feed_id, name in LISTS.items():
            self.take_in(feed_id, list_csv(self.work, name, **people.get(feed_id.replace("-", "_"), {})))

    def outbox(self, partner: str) -> Path:
        return self.areas[partner].path(self.cfg.partners[partner].sftp.paths.outbox)

    def inbox(self, partner: str) -> Path:
        return self.areas[partner].path(self.cfg.partners[partner].sftp.paths.inbox)

    def quarantine(self, partner: str) -> Path:
        return self.areas[partner].path(self.cfg.partners[partner].sftp.paths.quarantine)

    def inbound_job(self, feed_id: str, audit: AuditLog) -> InboundJob:
        feed = self.cfg.inbound(feed_id)
        area = self.areas[feed.partner]
        signing = sshsig.load_private_key(self.keys.our_signing)
        return InboundJob(
            area, self.engine, audit, self.cfg, feed, [self.keys.ours], LocalBulk(area), signing_key=signing
        )

    def outbound_job(self, feed_id: str, audit: AuditLog) -> OutboundJob:
        feed = self.cfg.outbound(feed_id)
        area = self.areas[feed.partner]
        return OutboundJob(
            area, self.engine, audit, self.cfg, feed, sshsig.load_private_key(self.keys.our_signing),
            LocalBulk(area), self.disclosure_key, key_for=lambda ref: self.pseudonym_key,
        )  # fmt: skip


def offline_project(tmp: Path, engine: Engine | None = None) -> Offline:
    """``engine``: a migrated store to use (the ``engine`` fixture's SQLite or PostgreSQL); else an SQLite file."""
    keys = scene.make_keys()
    host_keys = {c: scene.public_line(scene.ssh_signing_key()) for c in (COUNCIL, NHS)}  # never dialled
    config_dir = scene.write_config(tmp, host_keys, keys)
    cfg = load_config(config_dir)
    if engine is None:
        engine = make_engine(f"sqlite:///{tmp / 'crosswalk.db'}")
        upgrade(engine)
    areas = {code: LocalArea(tmp / "sftp" / code) for code in cfg.partners}
    return Offline(tmp, cfg, keys, engine, areas, secrets.token_bytes(32))
