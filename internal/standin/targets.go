package standin

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/agops/agops/internal/configscan"
)

// Protocols a stand-in listens on and dials. SCTP is not among them: Go's standard library has no SCTP sockets.
const (
	tcp = "TCP"
	udp = "UDP"
)

// maxConfigTargets bounds the addresses taken from one container's configuration.
const maxConfigTargets = 64

// Port is a port a stand-in listens on.
type Port struct {
	Port     int32
	Protocol string // TCP or UDP
}

func (p Port) String() string { return strconv.Itoa(int(p.Port)) + "/" + p.Protocol }

// ParsePorts reads a --listen list: "8080/TCP,5432,53/UDP" (TCP when no protocol is given). Port 0 asks for any
// free port (for tests).
func ParsePorts(s string) ([]Port, error) {
	var out []Port
	for _, f := range splitList(s) {
		num, proto, _ := strings.Cut(f, "/")
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("listen port %q: not a port between 0 and 65535", f)
		}
		p, err := protocol(proto)
		if err != nil {
			return nil, fmt.Errorf("listen port %q: %w", f, err)
		}
		if port := (Port{Port: int32(n), Protocol: p}); n == 0 || !slices.Contains(out, port) {
			out = append(out, port)
		}
	}
	return out, nil
}

func protocol(s string) (string, error) {
	switch strings.ToUpper(s) {
	case "", tcp:
		return tcp, nil
	case udp:
		return udp, nil
	}
	return "", fmt.Errorf("protocol %q: a stand-in speaks TCP and UDP", s)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Target is an address a stand-in dials.
type Target struct {
	Addr     string // host:port as configured, never with credentials
	Protocol string // TCP or UDP
	Source   string // "config:NAME", "config:args" or "probe"
	Workload string // the destination workload of a probe target
	Port     int32  // the destination's port, see Result.Port
	// Peers makes a probe target dial the pods its host resolves to (a headless Service's name), one of those that
	// is not the dialer, instead of the address: how a pod that runs no stand-in measures its own workload's other
	// replicas, which its own Service may not lead to (the connection may come back to itself).
	Peers bool
}

// String is the --probe form of a probe target, see ParseProbes.
func (t Target) String() string {
	s := t.Workload + "="
	if t.Peers {
		s += peersMark
	}
	s += t.Addr + "/" + t.Protocol
	if _, port, err := net.SplitHostPort(t.Addr); err == nil && port != strconv.Itoa(int(t.Port)) {
		s += "@" + strconv.Itoa(int(t.Port))
	}
	return s
}

// ParseProbes reads a --probe list: "ns/name=[~]host:port/PROTO[@PORT],...". ns/name is the destination workload as
// the reachability matrix names it, host:port the address to dial (a Service's), PROTO TCP (default) or UDP, and
// @PORT the workload's container port when the Service maps another port to it. A "~" before the address makes it
// a peers target (Target.Peers).
func ParseProbes(s string) ([]Target, error) {
	var out []Target
	for _, f := range splitList(s) {
		t, err := parseProbe(f)
		if err != nil {
			return nil, fmt.Errorf("probe %q: %w", f, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func parseProbe(f string) (Target, error) {
	workload, addr, ok := strings.Cut(f, "=")
	if !ok || !strings.Contains(workload, "/") || strings.HasPrefix(workload, "/") || strings.HasSuffix(workload, "/") {
		return Target{}, fmt.Errorf("want namespace/workload=host:port/PROTOCOL")
	}
	addr, peers := strings.CutPrefix(addr, peersMark)
	addr, containerPort, hasPort := strings.Cut(addr, "@")
	addr, proto, _ := strings.Cut(addr, "/")
	p, err := protocol(proto)
	if err != nil {
		return Target{}, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return Target{}, fmt.Errorf("address %q: want host:port", addr)
	}
	n, err := parsePortNumber(port)
	if err != nil {
		return Target{}, err
	}
	t := Target{Addr: addr, Protocol: p, Source: sourceProbe, Workload: workload, Port: n, Peers: peers}
	if hasPort {
		if t.Port, err = parsePortNumber(containerPort); err != nil {
			return Target{}, fmt.Errorf("container port: %w", err)
		}
	}
	return t, nil
}

// peersMark marks a peers target in a --probe list.
const peersMark = "~"

func parsePortNumber(s string) (int32, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not between 1 and 65535", s)
	}
	return int32(n), nil
}

// Sources of targets.
const (
	sourceProbe  = "probe"
	sourceArgs   = "config:args"
	sourceEnvPfx = "config:"
)

// ConfigTargets finds the addresses a container's configuration names, to dial them: env is its environment
// ("NAME=value", as os.Environ gives it) and args its original command and arguments. It reads URLs (with the
// scheme's default port), host:port and NAME_HOST beside NAME_PORT, with the user information of URLs cut off
// first so that no credential reaches a report; variables whose name marks a credential, the Kubernetes service
// variables and the stand-in's own are skipped. Addresses of the container itself (localhost, 127.0.0.0/8,
// 0.0.0.0, ::1) are returned apart as self; values that cannot be a network address ("12:30") are dropped.
func ConfigTargets(env, args []string) (targets, self []Target) {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if k != "" && !skipVariable(k) {
			vars[k] = configscan.StripUserinfo(v)
		}
	}
	seen := map[string]bool{}
	add := func(hp configscan.HostPort, source string) {
		t := Target{Addr: hp.String(), Protocol: tcp, Source: source, Port: hp.Port}
		switch {
		case seen[t.Addr] || len(targets)+len(self) >= maxConfigTargets:
		case isSelf(hp.Host):
			self = append(self, t)
		case plausibleHost(hp.Host):
			targets = append(targets, t)
		}
		seen[t.Addr] = true
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, hp := range configscan.Find(vars[k]) {
			add(hp, sourceEnvPfx+k)
		}
		if port := configscan.SiblingPort(vars, k, vars[k]); port > 0 && vars[k] != "" {
			add(configscan.HostPort{Host: vars[k], Port: port}, sourceEnvPfx+k)
		}
	}
	for _, a := range args {
		for _, hp := range configscan.Find(configscan.StripUserinfo(a)) {
			add(hp, sourceArgs)
		}
	}
	return targets, self
}

// skipVariable tells which variables are not the configuration's addresses: credentials (whatever they hold),
// the service variables Kubernetes adds (the API server's address), and the stand-in's own.
func skipVariable(k string) bool {
	return configscan.CredentialName(k) || strings.HasPrefix(k, "KUBERNETES_") ||
		k == envPodName || k == envPodNamespace || k == "HOSTNAME"
}

// isSelf tells whether a host is the container itself.
func isSelf(host string) bool {
	h := strings.ToLower(host)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// plausibleHost tells whether a host could be a network name: an IP address, or dot-separated labels of which the
// last holds a letter ("12" and "1.5" are times and versions, not hosts).
func plausibleHost(host string) bool {
	if net.ParseIP(host) != nil {
		return true
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return false
		}
	}
	return strings.ContainsFunc(labels[len(labels)-1], func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	})
}
