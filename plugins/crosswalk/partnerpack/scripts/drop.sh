#!/bin/sh
# Crosswalk drop script for Linux and macOS (POSIX sh). Written for your organisation by `crosswalk partner pack`;
# drop.ps1 beside it does the same on Windows, step for step.
#
#   ./drop.sh --check FILE.csv   check the file's header against the feed's schema; nothing is sent
#   ./drop.sh FILE.csv           check, encrypt, write the manifest, sign it, upload the three files in order
#   ./drop.sh --fetch            download our receipts and deliveries from your inbox, verify every signature
#
# Settings are in drop.conf beside this script (your SFTP address, login and signing keys). Tools: sftp,
# ssh-keygen (OpenSSH 8.1 or newer), age or gpg, awk, and sha256sum or shasum. Your CSV is never changed: the
# encrypted copy, the manifest and the signature are written beside it.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
NAMESPACE_MANIFEST=crosswalk-manifest
NAMESPACE_RECEIPT=crosswalk-receipt

die() {
    printf 'drop.sh: %s\n' "$*" >&2
    exit 1
}

# The value of a drop.conf setting ('' when unset). The file is read, never run.
conf() {
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$here/drop.conf" | tail -n 1 | sed 's/[[:space:]]*$//'
}

home_path() {
    case $1 in
    "~/"*) printf '%s/%s\n' "$HOME" "${1#"~/"}" ;;
    *) printf '%s\n' "$1" ;;
    esac
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d ' ' -f 1
    else
        shasum -a 256 "$1" | cut -d ' ' -f 1
    fi
}

size_of() {
    wc -c <"$1" | tr -d ' '
}

# Settings, read once.
load_settings() {
    [ -f "$here/drop.conf" ] || die "drop.conf is missing: it belongs beside this script"
    METHOD=$(conf encryption)
    SENDER=$(conf sender)
    SFTP_HOST=$(conf sftp_host)
    SFTP_PORT=$(conf sftp_port)
    SFTP_USER=$(conf sftp_user)
    LOGIN_KEY=$(home_path "$(conf login_key)")
    KNOWN_HOSTS=$(home_path "$(conf known_hosts)")
    SIGNING_KEY=$(home_path "$(conf signing_key)")
    OPENPGP_SIGNER=$(conf openpgp_signer)
    OUTBOX=$(conf outbox)
    INBOX=$(conf inbox)
    : "${SFTP_PORT:=22}"
}

# Your SFTP server, with its host key checked against your known_hosts: never accepted blindly.
sftp_batch() {
    [ -n "$SFTP_HOST" ] && [ -n "$SFTP_USER" ] || die "set sftp_host and sftp_user in drop.conf"
    set -- -b - -P "$SFTP_PORT" -o StrictHostKeyChecking=yes
    [ -z "$LOGIN_KEY" ] || set -- "$@" -i "$LOGIN_KEY" -o IdentitiesOnly=yes
    [ -z "$KNOWN_HOSTS" ] || set -- "$@" -o "UserKnownHostsFile=$KNOWN_HOSTS"
    sftp "$@" "$SFTP_USER@$SFTP_HOST"
}

need_tools() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (see GUIDE.md, 'What you need')"
    done
    version=$(ssh -V 2>&1 | sed -n 's/^OpenSSH[^0-9]*\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p')
    set -- $version
    [ $# -eq 2 ] || die "cannot tell which OpenSSH this is (ssh -V); ssh-keygen must be OpenSSH 8.1 or newer"
    [ "$1" -gt 8 ] || { [ "$1" -eq 8 ] && [ "$2" -ge 1 ]; } ||
        die "OpenSSH $1.$2 cannot sign files: ssh-keygen -Y needs OpenSSH 8.1 or newer"
}

# The feed a file belongs to, by its name (feeds.conf: feed|schema|file pattern|columns).
step_find_feed() {
    NAME=$(basename "$1")
    case $NAME in
    *[!A-Za-z0-9._-]* | [!A-Za-z0-9]*) die "$NAME: name files with letters, digits, '.', '_' and '-' only" ;;
    esac
    [ "${#NAME}" -le 120 ] || die "$NAME: a file name is at most 120 characters"
    [ -f "$1" ] || die "$1: no such file"
    while IFS='|' read -r feed schema pattern columns; do
        case $feed in '' | '#'*) continue ;; esac
        # shellcheck disable=SC2254 # the pattern is a glob, as the feed's file_pattern
        case $NAME in $pattern)
            FEED=$feed SCHEMA=$schema COLUMNS=$columns
            return 0
            ;;
        esac
    done <"$here/feeds.conf"
    die "$NAME matches none of your feeds' file names: $(grep -v '^#' "$here/feeds.conf" | cut -d '|' -f 3 | tr '\n' ' ')"
}

# The header row against the schema's columns (any order; each once; none unknown), and at least one row.
step_check_header() {
    awk -v want="$COLUMNS" -v name="$NAME" -v schema="$SCHEMA" '
        NR == 1 {
            sub(/^\357\273\277/, ""); sub(/\r$/, "")
            n = split(want, w, ","); for (i = 1; i <= n; i++) known[w[i]] = 1
            m = split($0, h, ",")
            for (i = 1; i <= m; i++) { c = h[i]; gsub(/^"|"$/, "", c); h[i] = c; if (c in known) found++ }
            if (!found) { print name ": no header row: none of the " n " expected column names is in the first row"; bad = 1; exit }
            for (i = 1; i <= m; i++) {
                if (!(h[i] in known)) unknown = unknown (unknown ? ", " : "") i
                else if (seen[h[i]]++ == 1) dupes = dupes (dupes ? ", " : "") h[i]
            }
            for (i = 1; i <= n; i++) if (!(w[i] in seen)) { missing = missing (missing ? ", " : "") w[i]; nmiss++ }
            if (dupes) { print name ": duplicate column(s): " dupes; bad = 1 }
            if (nmiss) { print name ": " nmiss " of " n " column(s) missing: " missing; bad = 1 }
            if (unknown) { print name ": unknown column(s) at position(s) " unknown " (not in the " schema " schema)"; bad = 1 }
            next
        }
        NR == 2 { rows = 1 }
        END {
            if (NR == 0) { print name ": the file is empty"; exit 1 }
            if (!bad && !rows) { print name ": a header but no rows"; bad = 1 }
            exit bad
        }' "$1" >&2 || die "$NAME does not fit the $SCHEMA schema; nothing was sent"
}

# Records, not lines: a quoted field may hold a line break. A blank line is not a record.
step_count_rows() {
    ROWS=$(awk '
        { sub(/\r$/, "") }
        !inq && $0 == "" { next }
        { if (!inq) records++; if (gsub(/"/, "\"") % 2 == 1) inq = !inq }
        END { print (records > 0 ? records - 1 : 0) }' "$1")
}

step_encrypt() {
    case $METHOD in
    age)
        ENC=$1.age
        rm -f "$ENC"
        command -v age >/dev/null 2>&1 || die "age is not installed (see GUIDE.md, 'What you need')"
        age -R "$here/crosswalk-recipients.txt" -o "$ENC" "$1"
        ;;
    openpgp)
        ENC=$1.gpg
        rm -f "$ENC"
        command -v gpg >/dev/null 2>&1 || die "gpg is not installed (see GUIDE.md, 'What you need')"
        [ -n "$OPENPGP_SIGNER" ] || die "set openpgp_signer in drop.conf (the key you sign with in gpg)"
        gpg --batch --yes --compress-algo none --recipient-file "$here/crosswalk-openpgp.asc" \
            --local-user "$OPENPGP_SIGNER" --sign --encrypt -o "$ENC" "$1"
        ;;
    *) die "drop.conf: encryption is '$METHOD'; it must be age or openpgp" ;;
    esac
}

step_write_manifest() {
    MANIFEST=$ENC.manifest.json
    recipients=$(grep -v -e '^#' -e '^[[:space:]]*$' "$here/crosswalk-recipients.txt" |
        awk '{ printf "%s\"%s\"", (NR > 1 ? ", " : ""), $1 }')
    cat >"$MANIFEST" <<EOF
{
  "manifest_version": 1,
  "feed": "$FEED",
  "schema_id": "$SCHEMA",
  "sender": "$SENDER",
  "created_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "file_name": "$(basename "$ENC")",
  "sha256": "$(sha256_of "$ENC")",
  "size": $(size_of "$ENC"),
  "encryption": "$METHOD",
  "recipients": [$recipients],
  "plaintext_sha256": "$(sha256_of "$1")",
  "plaintext_size": $(size_of "$1"),
  "rows": $ROWS
}
EOF
}

# A signature left from an earlier attempt is removed first: ssh-keygen asks before overwriting one, and
# with no answer writes nothing while reporting success.
step_sign() {
    SIGNATURE=$MANIFEST.sig
    rm -f "$SIGNATURE"
    [ -f "$SIGNING_KEY" ] || die "signing_key in drop.conf: no key at $SIGNING_KEY"
    ssh-keygen -q -Y sign -f "$SIGNING_KEY" -n "$NAMESPACE_MANIFEST" "$MANIFEST"
    [ -s "$SIGNATURE" ] || die "ssh-keygen wrote no signature for $(basename "$MANIFEST")"
}

# Any signature already up there goes first (so a half-replaced drop is never complete), then data, manifest
# and signature, in that order: the signature's arrival completes the drop.
step_upload() {
    sftp_batch >/dev/null <<EOF
-rm "$OUTBOX/$(basename "$SIGNATURE")"
put "$ENC" "$OUTBOX/$(basename "$ENC")"
put "$MANIFEST" "$OUTBOX/$(basename "$MANIFEST")"
put "$SIGNATURE" "$OUTBOX/$(basename "$SIGNATURE")"
EOF
    printf 'drop.sh: sent %s (%s rows, feed %s) to %s:%s\n' "$(basename "$ENC")" "$ROWS" "$FEED" "$SFTP_HOST" "$OUTBOX"
}

# (A glob stays outside the quotes: sftp does not expand one inside them.)
# Everything in your inbox comes down to ./received, and every signature is checked against our key in
# allowed_signers: receipts under crosswalk-receipt, deliveries under crosswalk-manifest.
step_fetch() {
    mkdir -p "$here/received/receipts"
    sftp_batch >/dev/null <<EOF
-get "$INBOX/receipts/"* "$here/received/receipts/"
-get "$INBOX/"*.json "$here/received/"
-get "$INBOX/"*.sig "$here/received/"
-get "$INBOX/"*.age "$here/received/"
-get "$INBOX/"*.gpg "$here/received/"
-get "$INBOX/"*.txt "$here/received/"
EOF
}

step_verify() {
    signer=$(awk 'NF && $1 !~ /^#/ { print $1; exit }' "$here/allowed_signers")
    failed=0
    for sig in "$here"/received/*.sig "$here"/received/receipts/*.sig; do
        [ -f "$sig" ] || continue
        case $sig in */receipts/*) namespace=$NAMESPACE_RECEIPT ;; *) namespace=$NAMESPACE_MANIFEST ;; esac
        if ssh-keygen -Y verify -f "$here/allowed_signers" -I "$signer" -n "$namespace" -s "$sig" \
            <"${sig%.sig}" >/dev/null 2>&1; then
            printf 'verified  %s\n' "${sig#"$here/"}"
        else
            printf 'NOT VERIFIED  %s: do not trust it; tell us\n' "${sig#"$here/"}"
            failed=1
        fi
    done
    return $failed
}

main() {
    [ $# -ge 1 ] || die "usage: drop.sh [--check] FILE.csv | drop.sh --fetch"
    load_settings
    case $1 in
    --fetch)
        need_tools sftp ssh-keygen
        step_fetch
        step_verify
        ;;
    --check)
        [ $# -eq 2 ] || die "usage: drop.sh --check FILE.csv"
        step_find_feed "$2"
        step_check_header "$2"
        step_count_rows "$2"
        printf 'drop.sh: %s fits the %s schema (%s rows); nothing was sent\n' "$NAME" "$SCHEMA" "$ROWS"
        ;;
    -*) die "unknown option $1" ;;
    *)
        [ $# -eq 1 ] || die "usage: drop.sh FILE.csv (one file at a time)"
        need_tools sftp ssh-keygen
        step_find_feed "$1"
        step_check_header "$1"
        step_count_rows "$1"
        step_encrypt "$1"
        step_write_manifest "$1"
        step_sign
        step_upload
        ;;
    esac
}

main "$@"
