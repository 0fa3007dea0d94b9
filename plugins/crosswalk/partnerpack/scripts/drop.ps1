# Crosswalk drop script for Windows (PowerShell 5.1 or newer). Written for your organisation by
# `crosswalk partner pack`; a step-for-step mirror of drop.sh (same steps, same order, same files).
#
#   .\drop.ps1 -Check FILE.csv   check the file's header against the feed's schema; nothing is sent
#   .\drop.ps1 FILE.csv          check, encrypt, write the manifest, sign it, upload the three files in order
#   .\drop.ps1 -Fetch            download our receipts and deliveries from your inbox, verify every signature
#
# Settings are in drop.conf beside this script. Tools: Windows' OpenSSH client (sftp, ssh-keygen: OpenSSH 8.1
# or newer) and age.exe (on PATH or beside this script) or gpg. Your CSV is never changed: the encrypted copy,
# the manifest and the signature are written beside it.
param(
    [switch]$Check,
    [switch]$Fetch,
    [Parameter(Position = 0)][string]$File
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2

$here = Split-Path -Parent $MyInvocation.MyCommand.Path
$NAMESPACE_MANIFEST = 'crosswalk-manifest'
$NAMESPACE_RECEIPT = 'crosswalk-receipt'
$Utf8 = New-Object System.Text.UTF8Encoding $false

function die([string]$message) {
    [Console]::Error.WriteLine("drop.ps1: $message")
    exit 1
}

# The value of a drop.conf setting ('' when unset). The file is read, never run.
function conf([string]$name) {
    $value = ''
    foreach ($line in [IO.File]::ReadAllLines((Join-Path $here 'drop.conf'))) {
        if ($line -match "^\s*$name\s*=\s*(.*)$") { $value = $Matches[1].TrimEnd() }
    }
    return $value
}

function home_path([string]$path) {
    if ($path.StartsWith('~/')) { return (Join-Path $HOME $path.Substring(2)) }
    return $path
}

function sha256_of([string]$path) { return (Get-FileHash -Algorithm SHA256 -LiteralPath $path).Hash.ToLower() }

function size_of([string]$path) { return (Get-Item -LiteralPath $path).Length }

# sftp's batch parser reads a backslash as an escape: local paths go with forward slashes.
function sftp_path([string]$path) { return ($path -replace '\\', '/') }

# Settings, read once.
function load_settings {
    if (-not (Test-Path (Join-Path $here 'drop.conf'))) { die 'drop.conf is missing: it belongs beside this script' }
    $script:METHOD = conf 'encryption'
    $script:SENDER = conf 'sender'
    $script:SFTP_HOST = conf 'sftp_host'
    $script:SFTP_PORT = conf 'sftp_port'
    $script:SFTP_USER = conf 'sftp_user'
    $script:LOGIN_KEY = home_path (conf 'login_key')
    $script:KNOWN_HOSTS = home_path (conf 'known_hosts')
    $script:SIGNING_KEY = home_path (conf 'signing_key')
    $script:OPENPGP_SIGNER = conf 'openpgp_signer'
    $script:OUTBOX = conf 'outbox'
    $script:INBOX = conf 'inbox'
    if (-not $script:SFTP_PORT) { $script:SFTP_PORT = '22' }
}

# Your SFTP server, with its host key checked against your known_hosts: never accepted blindly.
function sftp_batch([string[]]$commands) {
    if (-not $SFTP_HOST -or -not $SFTP_USER) { die 'set sftp_host and sftp_user in drop.conf' }
    $batch = [IO.Path]::GetTempFileName()
    try {
        [IO.File]::WriteAllText($batch, (($commands -join "`n") + "`n"), $Utf8)
        $sftpArgs = @('-b', $batch, '-P', $SFTP_PORT, '-o', 'StrictHostKeyChecking=yes')
        if ($LOGIN_KEY) { $sftpArgs += @('-i', $LOGIN_KEY, '-o', 'IdentitiesOnly=yes') }
        if ($KNOWN_HOSTS) { $sftpArgs += @('-o', "UserKnownHostsFile=$KNOWN_HOSTS") }
        & sftp @sftpArgs "$SFTP_USER@$SFTP_HOST" | Out-Null
        if ($LASTEXITCODE -ne 0) { die "sftp failed (exit $LASTEXITCODE)" }
    } finally {
        Remove-Item -LiteralPath $batch -ErrorAction SilentlyContinue
    }
}

function need_tools([string[]]$tools) {
    foreach ($tool in $tools) {
        if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) { die "$tool is not installed (see GUIDE.md, 'What you need')" }
    }
    $version = (& ssh -V 2>&1 | Out-String)
    if ($version -notmatch 'OpenSSH[^0-9]*(\d+)\.(\d+)') {
        die 'cannot tell which OpenSSH this is (ssh -V); ssh-keygen must be OpenSSH 8.1 or newer'
    }
    $major, $minor = [int]$Matches[1], [int]$Matches[2]
    if (-not ($major -gt 8 -or ($major -eq 8 -and $minor -ge 1))) {
        die "OpenSSH $major.$minor cannot sign files: ssh-keygen -Y needs OpenSSH 8.1 or newer"
    }
}

# The feed a file belongs to, by its name (feeds.conf: feed|schema|file pattern|columns).
function step_find_feed([string]$path) {
    $script:NAME = Split-Path -Leaf $path
    if ($NAME -notmatch '^[A-Za-z0-9][A-Za-z0-9._-]*$') { die "${NAME}: name files with letters, digits, '.', '_' and '-' only" }
    if ($NAME.Length -gt 120) { die "${NAME}: a file name is at most 120 characters" }
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { die "${path}: no such file" }
    $patterns = @()
    foreach ($line in [IO.File]::ReadAllLines((Join-Path $here 'feeds.conf'))) {
        if (-not $line -or $line.StartsWith('#')) { continue }
        $feed, $schema, $pattern, $columns = $line.Split('|')
        $patterns += $pattern
        if ($NAME -clike $pattern) {
            $script:FEED, $script:SCHEMA, $script:COLUMNS = $feed, $schema, $columns
            return
        }
    }
    die "$NAME matches none of your feeds' file names: $($patterns -join ' ')"
}

# The header row against the schema's columns (any order; each once; none unknown), and at least one row.
function step_check_header([string]$path) {
    $reader = New-Object IO.StreamReader($path, $Utf8, $true)  # drops a UTF-8 byte-order mark
    try { $header, $second = $reader.ReadLine(), $reader.ReadLine() } finally { $reader.Close() }
    if ($null -eq $header) { die "${NAME}: the file is empty" }
    $want = $COLUMNS.Split(',')
    $cells = @($header.Split(',') | ForEach-Object { $_ -replace '^"|"$', '' })
    $found = @($cells | Where-Object { $want -ccontains $_ })
    $problems = @()
    if ($found.Count -eq 0) {
        $problems += "${NAME}: no header row: none of the $($want.Count) expected column names is in the first row"
    } else {
        $dupes = @($found | Group-Object -CaseSensitive | Where-Object { $_.Count -gt 1 } | ForEach-Object { $_.Name })
        $missing = @($want | Where-Object { $cells -cnotcontains $_ })
        $unknown = @(for ($i = 0; $i -lt $cells.Count; $i++) { if ($want -cnotcontains $cells[$i]) { $i + 1 } })
        if ($dupes.Count) { $problems += "${NAME}: duplicate column(s): $($dupes -join ', ')" }
        if ($missing.Count) { $problems += "${NAME}: $($missing.Count) of $($want.Count) column(s) missing: $($missing -join ', ')" }
        if ($unknown.Count) { $problems += "${NAME}: unknown column(s) at position(s) $($unknown -join ', ') (not in the $SCHEMA schema)" }
        if (-not $problems.Count -and $null -eq $second) { $problems += "${NAME}: a header but no rows" }
    }
    if ($problems.Count) {
        $problems | ForEach-Object { [Console]::Error.WriteLine($_) }
        die "$NAME does not fit the $SCHEMA schema; nothing was sent"
    }
}

# Records, not lines: a quoted field may hold a line break. A blank line is not a record.
function step_count_rows([string]$path) {
    $records, $inq = 0, $false
    foreach ($line in [IO.File]::ReadLines($path)) {
        if (-not $inq -and $line -eq '') { continue }
        if (-not $inq) { $records++ }
        if ((($line.Length - $line.Replace('"', '').Length) % 2) -eq 1) { $inq = -not $inq }
    }
    $script:ROWS = [Math]::Max($records - 1, 0)
}

function step_encrypt([string]$path) {
    switch ($METHOD) {
        'age' {
            $script:ENC = "$path.age"
            Remove-Item -LiteralPath $ENC -ErrorAction SilentlyContinue
            $age = Join-Path $here 'age.exe'
            if (-not (Test-Path $age)) { $age = 'age' }
            if (-not (Get-Command $age -ErrorAction SilentlyContinue)) { die "age is not installed (see GUIDE.md, 'What you need')" }
            & $age -R (Join-Path $here 'crosswalk-recipients.txt') -o $ENC $path
        }
        'openpgp' {
            $script:ENC = "$path.gpg"
            Remove-Item -LiteralPath $ENC -ErrorAction SilentlyContinue
            if (-not (Get-Command gpg -ErrorAction SilentlyContinue)) { die "gpg is not installed (see GUIDE.md, 'What you need')" }
            if (-not $OPENPGP_SIGNER) { die 'set openpgp_signer in drop.conf (the key you sign with in gpg)' }
            & gpg --batch --yes --compress-algo none --recipient-file (Join-Path $here 'crosswalk-openpgp.asc') `
                --local-user $OPENPGP_SIGNER --sign --encrypt -o $ENC $path
        }
        default { die "drop.conf: encryption is '$METHOD'; it must be age or openpgp" }
    }
    if ($LASTEXITCODE -ne 0) { die "encryption failed (exit $LASTEXITCODE)" }
}

function step_write_manifest([string]$path) {
    $script:MANIFEST = "$ENC.manifest.json"
    $recipients = @([IO.File]::ReadAllLines((Join-Path $here 'crosswalk-recipients.txt')) |
        Where-Object { $_ -and -not $_.StartsWith('#') -and $_.Trim() } |
        ForEach-Object { '"' + $_.Trim().Split(' ')[0] + '"' }) -join ', '
    $created = (Get-Date).ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [Globalization.CultureInfo]::InvariantCulture)
    $text = @(
        '{',
        '  "manifest_version": 1,',
        "  `"feed`": `"$FEED`",",
        "  `"schema_id`": `"$SCHEMA`",",
        "  `"sender`": `"$SENDER`",",
        "  `"created_at`": `"$created`",",
        "  `"file_name`": `"$(Split-Path -Leaf $ENC)`",",
        "  `"sha256`": `"$(sha256_of $ENC)`",",
        "  `"size`": $(size_of $ENC),",
        "  `"encryption`": `"$METHOD`",",
        "  `"recipients`": [$recipients],",
        "  `"plaintext_sha256`": `"$(sha256_of $path)`",",
        "  `"plaintext_size`": $(size_of $path),",
        "  `"rows`": $ROWS",
        '}'
    ) -join "`n"
    [IO.File]::WriteAllText($MANIFEST, "$text`n", $Utf8)
}

# A signature left from an earlier attempt is removed first: ssh-keygen asks before overwriting one, and
# with no answer writes nothing while reporting success.
function step_sign {
    $script:SIGNATURE = "$MANIFEST.sig"
    Remove-Item -LiteralPath $SIGNATURE -ErrorAction SilentlyContinue
    if (-not (Test-Path -LiteralPath $SIGNING_KEY)) { die "signing_key in drop.conf: no key at $SIGNING_KEY" }
    & ssh-keygen -q -Y sign -f $SIGNING_KEY -n $NAMESPACE_MANIFEST $MANIFEST
    if ($LASTEXITCODE -ne 0 -or -not (Test-Path -LiteralPath $SIGNATURE) -or (size_of $SIGNATURE) -eq 0) {
        die "ssh-keygen wrote no signature for $(Split-Path -Leaf $MANIFEST)"
    }
}

# Any signature already up there goes first (so a half-replaced drop is never complete), then data, manifest
# and signature, in that order: the signature's arrival completes the drop.
function step_upload {
    sftp_batch @(
        "-rm `"$OUTBOX/$(Split-Path -Leaf $SIGNATURE)`"",
        "put `"$(sftp_path $ENC)`" `"$OUTBOX/$(Split-Path -Leaf $ENC)`"",
        "put `"$(sftp_path $MANIFEST)`" `"$OUTBOX/$(Split-Path -Leaf $MANIFEST)`"",
        "put `"$(sftp_path $SIGNATURE)`" `"$OUTBOX/$(Split-Path -Leaf $SIGNATURE)`""
    )
    Write-Output "drop.ps1: sent $(Split-Path -Leaf $ENC) ($ROWS rows, feed $FEED) to ${SFTP_HOST}:$OUTBOX"
}

# (A glob stays outside the quotes: sftp does not expand one inside them.)
# Everything in your inbox comes down to .\received, and every signature is checked against our key in
# allowed_signers: receipts under crosswalk-receipt, deliveries under crosswalk-manifest.
function step_fetch {
    $received = sftp_path (Join-Path $here 'received')
    New-Item -ItemType Directory -Force -Path (Join-Path $here 'received/receipts') | Out-Null
    sftp_batch @(
        "-get `"$INBOX/receipts/`"* `"$received/receipts/`"",
        "-get `"$INBOX/`"*.json `"$received/`"",
        "-get `"$INBOX/`"*.sig `"$received/`"",
        "-get `"$INBOX/`"*.age `"$received/`"",
        "-get `"$INBOX/`"*.gpg `"$received/`"",
        "-get `"$INBOX/`"*.txt `"$received/`""
    )
}

function step_verify {
    $allowed = Join-Path $here 'allowed_signers'
    $signer = ([IO.File]::ReadAllLines($allowed) | Where-Object { $_.Trim() -and -not $_.StartsWith('#') } |
        Select-Object -First 1).Split(' ')[0]
    $failed = $false
    $sigs = @(Get-ChildItem -Path (Join-Path $here 'received'), (Join-Path $here 'received/receipts') -Filter '*.sig' -File)
    foreach ($sig in $sigs) {
        $namespace = if ($sig.DirectoryName -like '*receipts') { $NAMESPACE_RECEIPT } else { $NAMESPACE_MANIFEST }
        $signed = $sig.FullName.Substring(0, $sig.FullName.Length - 4)
        # cmd's < passes the file's bytes unchanged (PowerShell 5.1's pipe would re-encode them).
        & cmd /c "ssh-keygen -Y verify -f `"$allowed`" -I $signer -n $namespace -s `"$($sig.FullName)`" < `"$signed`"" 2>&1 | Out-Null
        $shown = $sig.FullName.Substring($here.Length + 1)
        if ($LASTEXITCODE -eq 0) { Write-Output "verified  $shown" }
        else { Write-Output "NOT VERIFIED  ${shown}: do not trust it; tell us"; $failed = $true }
    }
    if ($failed) { exit 1 }
}

function main {
    load_settings
    # .NET resolves relative paths against the process's directory, not PowerShell's: use the full path.
    if ($File -and (Test-Path -LiteralPath $File)) { $script:File = (Resolve-Path -LiteralPath $File).ProviderPath }
    if ($Fetch) {
        need_tools @('sftp', 'ssh-keygen')
        step_fetch
        step_verify
    } elseif ($Check) {
        if (-not $File) { die 'usage: drop.ps1 -Check FILE.csv' }
        step_find_feed $File
        step_check_header $File
        step_count_rows $File
        Write-Output "drop.ps1: $NAME fits the $SCHEMA schema ($ROWS rows); nothing was sent"
    } else {
        if (-not $File) { die 'usage: drop.ps1 [-Check] FILE.csv | drop.ps1 -Fetch' }
        need_tools @('sftp', 'ssh-keygen')
        step_find_feed $File
        step_check_header $File
        step_count_rows $File
        step_encrypt $File
        step_write_manifest $File
        step_sign
        step_upload
    }
}

main
