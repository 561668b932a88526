#!/usr/bin/env bash
# agops cluster init: offline k3s install of server gpu-1 (1 of 3, 192.168.10.11).
# Run as root from a folder holding gpu-1/, manifests/ and secrets/ as agops wrote them, after preflight.sh.
# It installs from local files only: the k3s binary, the airgap images archive and k3s's install script
# (saved from https://get.k3s.io), found next to this script unless the variables below say otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K3S_BINARY="${K3S_BINARY:-$here/k3s}"
K3S_INSTALL_SCRIPT="${K3S_INSTALL_SCRIPT:-$here/install-k3s.sh}"
K3S_IMAGES="${K3S_IMAGES:-}"
TOKEN="${TOKEN:-$here/../secrets/token}"

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

find_images() {
  local f
  for f in "$here"/k3s-airgap-images-*.tar*; do
    [[ -f $f ]] && { printf '%s\n' "$f"; return; }
  done
}

[[ $(id -u) -eq 0 ]] || die "run as root"
[[ -f $K3S_BINARY ]] || die "no k3s binary at $K3S_BINARY (download it from the k3s release you chose)"
[[ -f $K3S_INSTALL_SCRIPT ]] || die "no k3s install script at $K3S_INSTALL_SCRIPT (save https://get.k3s.io there)"
[[ -f $TOKEN ]] || die "no token at $TOKEN (copy secrets/token from the folder agops wrote)"
[[ -n $K3S_IMAGES ]] || K3S_IMAGES="$(find_images)"

install -m 0755 "$K3S_BINARY" /usr/local/bin/k3s
if [[ -n $K3S_IMAGES ]]; then
  install -d -m 0755 /var/lib/rancher/k3s/agent/images
  install -m 0644 "$K3S_IMAGES" /var/lib/rancher/k3s/agent/images/
fi
install -d -m 0700 /etc/rancher/k3s
install -m 0600 "$here/config.yaml" /etc/rancher/k3s/config.yaml
install -m 0600 "$TOKEN" /etc/rancher/k3s/token
# The cluster-side manifests (kube-vip first of all: servers 2 and 3 join through the VIP it holds) are
# applied by k3s itself from this folder, on every server.
install -d -m 0700 /var/lib/rancher/k3s/server/manifests
for m in "$here"/../manifests/*.yaml; do
  install -m 0600 "$m" "/var/lib/rancher/k3s/server/manifests/agops-$(basename "$m")"
done

INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_SKIP_SELINUX_RPM=true INSTALL_K3S_EXEC=server sh "$K3S_INSTALL_SCRIPT"
printf 'install.sh: k3s server gpu-1 installed; wait for "k3s kubectl get node gpu-1" to show Ready\n'
