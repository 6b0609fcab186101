#!/usr/bin/env bash
# Installs the Debian packages stacktender's tests and demo need, only those missing.
# Idempotent; services are not started here (scripts/services.sh does that, without systemd).
set -euo pipefail

packages=(
  rabbitmq-server mariadb-server galera-4 rsync
  postgresql
  memcached haproxy openvswitch-switch openvswitch-common
  icinga2-bin icinga2-common monitoring-plugins-basic
  prometheus
  curl socat python3-venv
  openssh-server openssh-client
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing: ${missing[*]}" >&2
# Package scripts must not try to start services: there is no systemd here, and
# scripts/services.sh starts what the tests need with their own options.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
