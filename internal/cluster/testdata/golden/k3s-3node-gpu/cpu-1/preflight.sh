#!/usr/bin/env bash
# agops cluster init: checks before installing k3s on server cpu-1 (192.168.10.12). It changes nothing.
# Prints one line per check and exits 1 if any failed.
set -euo pipefail

NODE_NAME="cpu-1"
NODE_IP="192.168.10.12"
SERVERS=3
MIN_FREE_GIB=40
failures=0

ok() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }

check_servers() {
  if ((SERVERS % 2 == 1)); then
    ok "servers: $SERVERS, an odd count (etcd keeps its quorum with $(((SERVERS - 1) / 2)) down)"
  else
    fail "servers: $SERVERS, an even count: etcd's quorum tolerates no more failures than with $((SERVERS - 1))"
  fi
}

check_hostname() {
  local h
  h="$(hostname)"
  if [[ $h == "$NODE_NAME" ]]; then
    ok "hostname is $NODE_NAME"
  else
    fail "hostname is $h, want $NODE_NAME: every server needs its own name (hostnamectl set-hostname $NODE_NAME)"
  fi
}

check_address() {
  if ip -o addr show | grep -Fq " $NODE_IP/"; then
    ok "$NODE_IP is an address of this machine"
  else
    fail "$NODE_IP is not an address of this machine: wrong machine, or its address changed"
  fi
}

check_ports() {
  local p
  for p in 6443 2379 2380 10250; do
    if ss -Hltn "sport = :$p" | grep -q .; then
      fail "port $p is in use (ss -ltnp 'sport = :$p' tells by what): k3s needs it"
    else
      ok "port $p is free"
    fi
  done
}

check_time() {
  local synced
  synced="$(timedatectl show -p NTPSynchronized --value 2>/dev/null || true)"
  if [[ $synced == yes ]]; then
    ok "the clock is synchronised"
  else
    fail "the clock is not synchronised (timedatectl: NTPSynchronized=$synced): etcd and certificates need it; start chrony or systemd-timesyncd against a local time server"
  fi
}

check_route() {
  if ip route show default | grep -q .; then
    ok "there is a default route"
  else
    fail "no default route: k3s needs one to pick its addresses, even air-gapped (add one to a local gateway)"
  fi
}

check_disk() {
  local dir=/var/lib/rancher avail
  [[ -d $dir ]] || dir=/var/lib
  avail="$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')"
  if ((avail >= MIN_FREE_GIB * 1024 * 1024)); then
    ok "$((avail / 1024 / 1024)) GiB free under $dir"
  else
    fail "$((avail / 1024 / 1024)) GiB free under $dir, want at least $MIN_FREE_GIB GiB for images and etcd"
  fi
}

check_servers
check_hostname
check_address
check_ports
check_time
check_route
check_disk
if ((failures > 0)); then
  printf '%d check(s) failed\n' "$failures" >&2
  exit 1
fi
