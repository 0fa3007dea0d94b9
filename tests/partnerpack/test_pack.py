"""What a partner's pack holds, filled in from config: their feeds and ours to them at their level, our keys with
fingerprints to confirm by phone, the allowed_signers line, every reason code with what to do; and the command's
refusals."""

from __future__ import annotations

from datetime import date

import pytest

from crosswalk.cli import main
from crosswalk.crypto import sshsig
from crosswalk.errors import partner_reason_codes
from crosswalk.partnerpack.pack import OurKeys, allowed_signers_line, build_pack
from tests.support.offline import offline_project

COUNCIL, NHS = "northshire-council", "nhs-northshire"
TODAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    return offline_project(tmp_path_factory.mktemp("offline"))


@pytest.fixture(scope="module")
def keys(offline):
    signing = sshsig.public_key_line(sshsig.load_private_key(offline.keys.our_signing).public_key())
    return OurKeys(signing_key=signing, age_recipients=(offline.keys.ours.recipient,))


def test_the_guide_is_about_this_partner(offline, keys):
    pack = build_pack(offline.cfg, NHS, keys, today=TODAY)
    guide = pack.files["GUIDE.md"].decode()
    assert guide.startswith("# Sending files to Northshire Health and Social Care Partnership: a guide for NHS")
    assert "| `health-index` | `chi_index_*.csv` |" in guide  # what they send us
    assert "clients_*.csv" not in guide  # the council's feed is not theirs
    # What we send them: the agreement in force today, their level, and each field as sent.
    line = next(ln for ln in guide.splitlines() if ln.startswith("- `social_care_clients_<batch>.csv.age`"))
    assert "under agreement northshire-isp v2 at level 2" in line
    agreement = offline.cfg.agreements["northshire-isp"].in_force(TODAY)
    fields = agreement.datasets["social_care_client"].fields
    above = [name for name, entry in fields.items() if entry.transform_at(2) == "drop"]
    assert above and not any(f" {name}," in line or f" {name}." in line for name in above)
    assert f"our age recipient: `{keys.age_recipients[0]}`" in guide
    assert f"our signing key fingerprint: `{keys.signing_fingerprint}`" in guide
    for code in partner_reason_codes():
        assert f"| `{code}` |" in guide
    assert "./drop.sh --check chi_index_20261127.csv" in guide


def test_the_pack_files(offline, keys):
    pack = build_pack(offline.cfg, COUNCIL, keys, today=TODAY)
    assert set(pack.files) == {"GUIDE.md", "drop.sh", "drop.ps1", "drop.conf", "feeds.conf",
                               "crosswalk-recipients.txt", "allowed_signers"}  # fmt: skip
    operator = offline.cfg.settings.operator.code
    assert pack.files["allowed_signers"].decode() == allowed_signers_line(operator, keys.signing_key)
    assert (
        pack.files["allowed_signers"]
        .decode()
        .startswith(f'{operator} namespaces="crosswalk-manifest,crosswalk-receipt" ssh-ed25519 AAAA')
    )
    schema = offline.cfg.schemas["social_care_client"]
    assert pack.files["feeds.conf"].decode().splitlines()[1] == (
        f"council-clients|social_care_client|clients_*.csv|{','.join(schema.field_names)}"
    )
    conf = pack.files["drop.conf"].decode()
    assert "sender = northshire-council" in conf and "encryption = age" in conf and "outbox = /outbox" in conf


def test_an_openpgp_partner_needs_our_openpgp_key(offline, keys):
    from crosswalk.config.models.partners import Encryption

    partner = offline.cfg.partners[COUNCIL]
    pgp = partner.model_copy(update={"encryption": Encryption.model_construct(method="openpgp")})
    cfg = offline.cfg
    original = cfg.partners[COUNCIL]
    cfg.partners[COUNCIL] = pgp
    try:
        with pytest.raises(ValueError, match="needs our OpenPGP public key"):
            build_pack(cfg, COUNCIL, keys, today=TODAY)
    finally:
        cfg.partners[COUNCIL] = original


def test_the_command_refuses_what_it_cannot_do(offline, tmp_path, capsys):
    config = ["--config", str(offline.cfg.config_dir)]
    assert main(["partner", "pack", "no-such-partner", "-o", str(tmp_path / "a"), *config]) == 2
    assert "no partner 'no-such-partner'; partners: nhs-northshire, northshire-council" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep\n")
    assert main(["partner", "pack", COUNCIL, "-o", str(tmp_path / "full"), *config]) == 2
    assert "is not an empty directory" in capsys.readouterr().err
    assert (tmp_path / "full" / "mine.txt").read_text() == "keep\n"
    # Outside a deployment, our keys' connections do not resolve: the remedy is named.
    assert main(["partner", "pack", COUNCIL, "-o", str(tmp_path / "b"), *config]) == 2
    err = capsys.readouterr().err
    assert "crosswalk partner pack:" in err and "give --signing-key-pub" in err and "Traceback" not in err
    assert not (tmp_path / "b").exists()


def test_the_command_takes_our_public_keys_as_given(offline, keys, tmp_path, capsys):
    pub = tmp_path / "ours.pub"
    pub.write_text(keys.signing_key + " crosswalk\n")
    out = tmp_path / "pack"
    args = ["partner", "pack", COUNCIL, "-o", str(out), "--config", str(offline.cfg.config_dir),
            "--signing-key-pub", str(pub), "--age-recipient", keys.age_recipients[0]]  # fmt: skip
    assert main(args) == 0
    assert (out / "drop.sh").stat().st_mode & 0o777 == 0o755
    assert (out / "crosswalk-recipients.txt").read_text().splitlines()[1] == keys.age_recipients[0]
    assert main([*args[:4], str(tmp_path / "c"), *args[5:-1], "age1xyz"]) == 1
    assert "age1" in capsys.readouterr().err
