"""The partner pack: everything one partner organisation needs to drop files and read what we send, filled in
from config (``crosswalk partner pack PARTNER -o DIR``).

A partner with little IT has ``sftp``, ``ssh-keygen``, ``age`` or ``gpg`` and a shell, no Python. The pack gives
them a one-page guide for their own feeds, our public keys with fingerprints to confirm by phone, our
``allowed_signers`` line, and two drop scripts, one per platform, that do the drop protocol step for step
(``scripts/drop.sh`` for POSIX sh, ``scripts/drop.ps1`` its mirror for Windows PowerShell). The scripts are the
same for every partner: what differs is in ``drop.conf`` and ``feeds.conf``, which the scripts read (never run).

``pack`` builds it (pure: the CLI resolves our keys and writes the files), ``guide`` writes GUIDE.md.
"""
