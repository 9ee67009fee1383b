#!/usr/bin/env bash
# Idempotent set-up: Debian packages the reference mesh runs on, then the venv.
# Each step is skipped when what it provides is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# command -> Debian package
declare -A needed=(
  [ip]=iproute2 [iptables-restore]=iptables [setpriv]=util-linux [curl]=curl
  [mariadbd]=mariadb-server [mariadb-install-db]=mariadb-server [mariadb]=mariadb-client
  [node]=nodejs [npm]=npm [tcpdump]=tcpdump [busybox]=busybox
)
missing=()
for command in "${!needed[@]}"; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$command" >/dev/null || missing+=("${needed[$command]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: missing ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
    exit 3
  fi
  echo "bootstrap: apt-get install ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
fi

stamp=.venv/.meshproof-installed
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "bootstrap: pip install -r requirements.txt" >&2
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
  touch "$stamp"
fi

# The TLS scanner (sslyze) in a venv of its own: its pins (cryptography<47) conflict with the project's.
scan_stamp=.venv-scan/.meshproof-installed
if [ ! -x .venv-scan/bin/python ]; then
  python3 -m venv .venv-scan
fi
if [ ! -f "$scan_stamp" ] || [ requirements-scan.txt -nt "$scan_stamp" ]; then
  echo "bootstrap: pip install -r requirements-scan.txt (into .venv-scan)" >&2
  .venv-scan/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements-scan.txt
  touch "$scan_stamp"
fi
