package cluster

import (
	"bytes"
	"fmt"
	"text/template"
)

// MinFreeGiB is the free disk space preflight.sh wants under /var/lib/rancher: images of model servers are large.
const MinFreeGiB = 40

// scriptData is what the scripts' templates read; every value is validated (names are DNS labels, addresses parse).
type scriptData struct {
	Name, Addr        string
	Index, Servers    int
	First             bool
	Airgap            bool
	Registries        bool
	MinFreeGiB        int
	ConfigDir         string
	TokenFile         string
	ManifestsDir      string
	ImagesDir         string
	FirstAddr, VIPURL string
}

func (s Spec) scriptData(i int) scriptData {
	return scriptData{
		Name: s.Nodes[i].Name, Addr: s.Nodes[i].Addr.String(), Index: i + 1, Servers: len(s.Nodes), First: i == 0,
		Airgap: s.Airgap, Registries: s.hasRegistries(), MinFreeGiB: MinFreeGiB,
		ConfigDir: k3sConfigDir, TokenFile: k3sTokenFile, ManifestsDir: k3sManifestsDir, ImagesDir: k3sImagesDir,
		FirstAddr: s.Nodes[0].Addr.String(), VIPURL: "https://" + bracket(s.VIP.String()) + ":6443",
	}
}

func bracket(addr string) string {
	for _, c := range addr {
		if c == ':' {
			return "[" + addr + "]"
		}
	}
	return addr
}

// These are shell programs, not Kubernetes objects: text templates over validated values are the plain way.
var (
	installTmpl   = template.Must(template.New("install.sh").Parse(installScript))
	preflightTmpl = template.Must(template.New("preflight.sh").Parse(preflightScript))
)

func render(t *template.Template, d scriptData) ([]byte, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("writing %s: %w", t.Name(), err)
	}
	return b.Bytes(), nil
}

const installScript = `#!/usr/bin/env bash
# agops cluster init: offline k3s install of server {{.Name}} ({{.Index}} of {{.Servers}}, {{.Addr}}).
# Run as root from a folder holding {{.Name}}/, manifests/ and secrets/ as agops wrote them, after preflight.sh.
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
{{- if .Airgap}}
[[ -n $K3S_IMAGES && -f $K3S_IMAGES ]] || die "no k3s-airgap-images-*.tar* next to this script: an air-gapped node cannot pull k3s's own images"
{{- end}}

install -m 0755 "$K3S_BINARY" /usr/local/bin/k3s
if [[ -n $K3S_IMAGES ]]; then
  install -d -m 0755 {{.ImagesDir}}
  install -m 0644 "$K3S_IMAGES" {{.ImagesDir}}/
fi
install -d -m 0700 {{.ConfigDir}}
install -m 0600 "$here/config.yaml" {{.ConfigDir}}/config.yaml
install -m 0600 "$TOKEN" {{.TokenFile}}
{{- if .Registries}}
install -m 0600 "$here/registries.yaml" {{.ConfigDir}}/registries.yaml
{{- end}}
# The cluster-side manifests (kube-vip first of all: servers 2 and 3 join through the VIP it holds) are
# applied by k3s itself from this folder, on every server.
install -d -m 0700 {{.ManifestsDir}}
for m in "$here"/../manifests/*.yaml; do
  install -m 0600 "$m" "{{.ManifestsDir}}/agops-$(basename "$m")"
done
{{- if not .First}}

curl -fks --max-time 5 {{.VIPURL}}/readyz >/dev/null ||
  die "the VIP does not answer at {{.VIPURL}}: install the first server ({{.FirstAddr}}) and wait for kube-vip"
{{- end}}

INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_SKIP_SELINUX_RPM=true INSTALL_K3S_EXEC=server sh "$K3S_INSTALL_SCRIPT"
printf 'install.sh: k3s server {{.Name}} installed; wait for "k3s kubectl get node {{.Name}}" to show Ready\n'
`

const preflightScript = `#!/usr/bin/env bash
# agops cluster init: checks before installing k3s on server {{.Name}} ({{.Addr}}). It changes nothing.
# Prints one line per check and exits 1 if any failed.
set -euo pipefail

NODE_NAME="{{.Name}}"
NODE_IP="{{.Addr}}"
SERVERS={{.Servers}}
MIN_FREE_GIB={{.MinFreeGiB}}
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
`
