#!/bin/sh
# Provision from /etc/crosswalk-sftp (written by `make compose-keys`): the pinned host key and the
# authorized keys of two users, "crosswalk" (us) and "partner" (the organisation's own staff).
set -eu
src=/etc/crosswalk-sftp
install -m 600 "$src/ssh_host_ed25519_key" /etc/ssh/ssh_host_ed25519_key
install -m 644 "$src/ssh_host_ed25519_key.pub" /etc/ssh/ssh_host_ed25519_key.pub
# Key-only accounts: no password, but not locked (sshd refuses a locked account even with a good key).
for u in crosswalk partner; do
  id "$u" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$u"
  usermod -p '*' "$u"
done
# The layout docs/deploy.md asks of partners' servers: each side writes only where it must, and the
# set-group-id folders (with internal-sftp -u 0027) make every file readable by the other side alone.
chown root:root /srv/sftp && chmod 755 /srv/sftp
mkdir -p /srv/sftp/outbox /srv/sftp/inbox /srv/sftp/quarantine
chown partner:crosswalk /srv/sftp/outbox && chmod 2750 /srv/sftp/outbox
chown crosswalk:partner /srv/sftp/inbox && chmod 2770 /srv/sftp/inbox
chown crosswalk:partner /srv/sftp/quarantine && chmod 2750 /srv/sftp/quarantine
exec /usr/sbin/sshd -D -e
