#!/usr/bin/env bash
# Installs what lifeline needs on Debian (run as root). Idempotent: steps already
# done are skipped.
#   setup.sh demo   build dependencies only
#   setup.sh test   also the real peers the tests drive and the Python clients
set -euo pipefail
mode=${1:-test}
cd "$(dirname "$0")/.."
VENV=${LIFELINE_VENV:-/opt/lifeline-venv}

build_pkgs=(build-essential cmake libpcre2-dev pkg-config ca-certificates)
peer_pkgs=(snmp snmpd snmptrapd libsnmp-base smitools libyang2-tools netconfd yangcli
  openssh-server openssh-client sshpass telnet expect socat ser2net python3-serial python3-venv
  nut-server nut-client nut-powerman-pdu libnss3-tools powerman iputils-ping nftables iproute2
  wireguard-go wireguard-tools chromium chromium-driver)
pkgs=("${build_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${peer_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # The peers are daemons: keep Debian from starting them with their default
  # configurations (the tests run their own, on their own ports).
  policy=/usr/sbin/policy-rc.d
  created=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created=1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  [ -n "$created" ] && rm -f "$policy"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found: install a Rust toolchain (1.88 or newer), e.g. with rustup" >&2
  exit 1
fi

if [ "$mode" = test ]; then
  if ! "$VENV/bin/python" -c "import ncclient, pexpect, paramiko, pytest, pyang, serial, aiosmtpd, selenium, requests" 2>/dev/null; then
    echo "setup: creating the test clients' venv in $VENV"
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q pyang==2.7.1 ncclient==0.7.1 netconf-console2==3.0.1 six pyserial==3.5 \
      pexpect==4.9.0 snmpsim==1.2.2 pysmi==2.0.0 cryptography paramiko pytest aiosmtpd==1.4.6 \
      selenium==4.51.0 requests
  fi
fi
