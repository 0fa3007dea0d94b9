"""The partner pack's one-page guide (GUIDE.md), written for one partner from config: plain Markdown, readable as
plain text by someone with little IT."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from crosswalk.errors import partner_reason_codes
from crosswalk.partnerpack.parts import OPENPGP_FILE, RECIPIENTS_FILE, OurKeys, SentFeed, schedule_words

if TYPE_CHECKING:
    from crosswalk.config.loader import ProjectConfig
    from crosswalk.config.models.feeds import InboundFeed
    from crosswalk.config.models.partners import Partner

# Windows ships an OpenSSH client, but ssh-keygen signs files (-Y sign) only from OpenSSH 8.1.
WINDOWS_OPENSSH = (
    "Windows 11 and Windows Server 2025 ship an OpenSSH client that signs files (OpenSSH 8.6 or newer; Settings >"
    " System > Optional features > OpenSSH Client, installed by default). Windows 10 (1809 and later) and Windows"
    " Server 2019 and 2022 ship OpenSSH 7.7 on many builds, too old to sign (`ssh -V` says): there, install"
    " Microsoft's own Win32-OpenSSH release (the .msi from github.com/PowerShell/Win32-OpenSSH/releases)."
)


def example_name(pattern: str, today: date) -> str:
    return pattern.replace("*", today.strftime("%Y%m%d")).replace("?", "1")


def guide(
    cfg: ProjectConfig,
    partner: Partner,
    keys: OurKeys,
    inbound: list[InboundFeed],
    sent: list[SentFeed],
    *,
    today: date,
) -> str:
    us = cfg.settings.operator
    method = partner.encryption.method
    paths = partner.sftp.paths
    example = example_name(inbound[0].file_pattern, today) if inbound else "extract_20261127.csv"
    enc_suffix = ".age" if method == "age" else ".gpg"
    out: list[str] = [
        f"# Sending files to {us.name}: a guide for {partner.name}",
        "",
        f"Written for you by Crosswalk on {today.isoformat()} from our configuration. Everything here is about your"
        f" organisation (code `{partner.code}`). Nothing in this folder is secret: keep your own private keys out"
        " of it.",
        "",
        "## In this folder",
        "",
        "| File | What it is |",
        "|---|---|",
        "| `GUIDE.md` | this guide |",
        "| `drop.sh` | the drop script for Linux and macOS |",
        "| `drop.ps1` | the same script for Windows (PowerShell), step for step |",
        "| `drop.conf` | your settings: fill in the lines marked (yours) once |",
        "| `feeds.conf` | your feeds: file names and columns (ours; do not edit) |",
        f"| `{RECIPIENTS_FILE}` | what your files are encrypted to |",
        *([f"| `{OPENPGP_FILE}` | our OpenPGP public key |"] if method == "openpgp" else []),
        "| `allowed_signers` | our signing key, to check what we send you |",
        "",
        "## What you need",
        "",
        "- **Linux**: `sftp` and `ssh-keygen` (OpenSSH 8.1 or newer), "
        + ("`age`" if method == "age" else "`gpg`")
        + ", `awk` (Debian and Ubuntu: `apt-get install openssh-client "
        + ("age" if method == "age" else "gnupg")
        + "`).",
        "- **macOS**: the same; OpenSSH comes with macOS, "
        + ("`brew install age`." if method == "age" else "GnuPG from gpgtools.org or `brew install gnupg`."),
        f"- **Windows**: PowerShell (built in) and the OpenSSH client. {WINDOWS_OPENSSH} "
        + (
            "The age binary: the official release `age-…-windows-amd64.zip` from github.com/FiloSottile/age/releases;"
            " put `age.exe` on your PATH or beside `drop.ps1`."
            if method == "age"
            else "GnuPG: Gpg4win (gpg4win.org)."
        ),
        "",
        "## Once, before your first drop",
        "",
        "1. **Confirm our keys by phone** with our team before you use them; read these out and compare:",
        "",
        *(
            [f"   - our age recipient: `{r}`" for r in keys.age_recipients]
            if method == "age"
            else [f"   - our OpenPGP key fingerprint: `{f}`" for f in keys.openpgp_fingerprints]
        ),
        f"   - our signing key fingerprint: `{keys.signing_fingerprint}`",
        "",
        "2. **Your signing key.** Make one (or use the key you log in to SFTP with) and send us the `.pub` file;"
        " we pin it, and accept only manifests it signed:",
        "   `ssh-keygen -t ed25519 -C " + partner.code + " -f ~/.ssh/crosswalk_signing`",
        "3. **Fill in `drop.conf`**: your SFTP server, your login, your signing key.",
        "4. **Connect once by hand** (`sftp -P PORT USER@HOST`) and compare the server's key fingerprint with your"
        " IT's before answering yes. The scripts never accept an unknown server key.",
        "",
        "## Each drop",
        "",
        "Name files with letters, digits, `.`, `_` and `-` only, never with personal data. Then:",
        "",
        "```sh",
        f"./drop.sh --check {example}     # the header against the schema; nothing is sent",
        f"./drop.sh {example}             # check, encrypt, write the manifest, sign, upload",
        "```",
        "",
        "On Windows, in PowerShell: `powershell -ExecutionPolicy Bypass -File .\\drop.ps1 " + example + "`"
        " (and `-Check` to check only).",
        "",
        f"Your CSV is never changed or sent as it is: the script writes `{example}{enc_suffix}`, its manifest"
        f" (`{example}{enc_suffix}.manifest.json`) and signature (`.sig`) beside it and uploads those three, in that"
        f" order, to `{paths.outbox}`. A drop is complete when its signature arrives.",
        "",
        "## What you send us",
        "",
        "| Feed | File names | Columns | When we collect |",
        "|---|---|---|---|",
        *(
            f"| `{f.id}` | `{f.file_pattern}` | {len(cfg.schemas[f.schema_id].field_names)} columns of"
            f" `{f.schema_id}` (`feeds.conf` lists them) | {schedule_words(f.schedule)} |"
            for f in inbound
        ),
        *(["| (none) | | | |"] if not inbound else []),
        "",
        "## What we send you",
        "",
    ]
    if not sent:
        out += ["Nothing at present.", ""]
    for s in sent:
        if s.level is None:
            out += [f"- `{s.feed.file_prefix}_<batch>.csv{enc_suffix}`: not sent at present (no agreement in force"
                    " names you today).", ""]  # fmt: skip
            continue
        fields = ", ".join(c if t == "pass" else f"{c} ({t})" for c, t in s.fields)
        out += [
            f"- `{s.feed.file_prefix}_<batch>.csv{enc_suffix}` in `{paths.inbox}`, under agreement {s.agreement_ref} at"
            f" level {s.level}: {len(s.fields)} fields: {fields}.",
            "",
        ]
    out += [
        "## Receipts, and checking what we send",
        "",
        f"For every drop we take in you get a signed receipt in `{paths.inbox}/receipts/`: the batch id, your file's"
        " sha256, the rows we staged or the reason we did not. Fetch and verify everything in your inbox:",
        "",
        "```sh",
        "./drop.sh --fetch      # into ./received; prints 'verified' or 'NOT VERIFIED' for each file",
        "```",
        "",
        "By hand, for one receipt or delivery (the `-n` is `crosswalk-receipt` for receipts, `crosswalk-manifest`"
        " for deliveries):",
        "",
        "```sh",
        f"ssh-keygen -Y verify -f allowed_signers -I {us.code} -n crosswalk-receipt \\",
        "    -s crosswalk-receipt_<batch>.json.sig < crosswalk-receipt_<batch>.json",
        (
            "age -d -i your-age-key.txt -o extract.csv extract.csv.age     # open a delivery"
            if method == "age"
            else "gpg --decrypt -o extract.csv extract.csv.gpg     # open a delivery; gpg shows our Good signature"
        ),
        "```",
        "",
        "## If a drop is rejected",
        "",
        f"`crosswalk-feedback_<batch>.txt` in `{paths.inbox}` says why in one line (never quoting your data), and a"
        f" copy of what you sent is kept in `{paths.quarantine}/<batch>/`. A rejected drop left in your outbox is"
        " harmless: it is never taken in again while unchanged, and you may delete it. Fix the data and run the drop"
        " script again: it writes a new manifest and a new signature, which make a new batch.",
        "",
        "| Reason code | What to do |",
        "|---|---|",
        *(f"| `{code}` | {advice} |" for code, advice in partner_reason_codes().items()),
        "",
        "## Without the scripts",
        "",
        "The scripts only run standard tools; by hand, a drop is: encrypt"
        + (f" (`age -R {RECIPIENTS_FILE} -o F.age F`)" if method == "age" else " (`gpg --sign --encrypt`)")
        + ", write the manifest (the script's `step_write_manifest` shows every field), remove any old `.sig`, sign"
        " (`ssh-keygen -Y sign -f KEY -n crosswalk-manifest F.age.manifest.json`), then upload data, manifest and"
        " signature in that order.",
        "",
    ]
    return "\n".join(out)
