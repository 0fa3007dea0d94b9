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
chown root:root /srv/sftp && chmod 755 /srv/sftp
for d in inbox outbox quarantine; do
  mkdir -p "/srv/sftp/$d" && chown crosswalk:crosswalk "/srv/sftp/$d" && chmod 770 "/srv/sftp/$d"
done
usermod -aG crosswalk partner
exec /usr/sbin/sshd -D -e
