package plan

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/agops/agops/internal/model"
)

// dns1035 sanitizes a name into a DNS-1035 label (what Service names must be): lowercase letters, digits and '-',
// starting with a letter, at most 63 characters.
func dns1035(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.Trim(collapseDashes(b.String()), "-")
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "s-" + s
	}
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	return strings.TrimRight(s, "-")
}

func collapseDashes(s string) string {
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	return s
}

// namespaceName is the namespace of a project.
func namespaceName(project string) string { return dns1035(project) }

// unique returns name, or name-2, name-3... so that kind/name is not yet taken, and takes it.
func (pl *planner) unique(kind, name string) string {
	candidate := name
	for i := 2; pl.used[kind+"/"+candidate]; i++ {
		suffix := fmt.Sprintf("-%d", i)
		base := name
		if len(base)+len(suffix) > 63 {
			base = strings.TrimRight(base[:63-len(suffix)], "-")
		}
		candidate = base + suffix
	}
	pl.used[kind+"/"+candidate] = true
	return candidate
}

// ruleNames gives every service a Kubernetes name and collects the other names peers may use for it.
func (pl *planner) ruleNames() {
	for _, n := range pl.order {
		s := pl.svcs[n]
		if mode, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
			if _, known := pl.svcs[mode]; !known {
				pl.fail("service %q: network_mode: unknown service %q", n, mode)
				continue
			}
			pl.owner[n] = mode
		}
	}
	// A chain a -> b -> c of network_mode service: joins c's pod.
	for n := range pl.owner {
		seen := map[string]bool{n: true}
		root := pl.owner[n]
		for next, ok := pl.owner[root]; ok; next, ok = pl.owner[root] {
			if seen[next] {
				pl.fail("service %q: network_mode: service: chain forms a cycle", n)
				break
			}
			seen[root] = true
			root = next
		}
		pl.owner[n] = root
	}
	for _, n := range pl.order {
		k8s := pl.unique("name", dns1035(n))
		pl.names[n] = k8s
		if k8s != n {
			pl.renames[n] = k8s
			pl.record(n, "name", model.Approximated,
				fmt.Sprintf("Kubernetes names must be DNS-1035 labels: service %q is named %q; peers' references are rewritten", n, k8s), "")
		}
	}
	for _, n := range pl.order {
		pl.collectAliases(n)
	}
	for _, n := range pl.order {
		for _, a := range pl.aliases[n] {
			if k8s := dns1035(a); k8s != a {
				pl.renames[a] = k8s
			}
		}
	}
}

// collectAliases gathers hostname, container_name, network aliases and links that name a service.
func (pl *planner) collectAliases(n string) {
	s := pl.svcs[n]
	add := func(alias string) {
		if alias != "" && alias != n {
			pl.aliases[n] = append(pl.aliases[n], alias)
		}
	}
	add(s.Hostname)
	add(s.ContainerName)
	for _, net := range sortedKeys(s.Networks) {
		if cfg := s.Networks[net]; cfg != nil {
			for _, a := range cfg.Aliases {
				add(a)
			}
		}
	}
	for _, l := range s.Links {
		target, alias, ok := strings.Cut(l, ":")
		if ok && target != "" && alias != target {
			if _, known := pl.svcs[target]; known {
				pl.aliases[target] = append(pl.aliases[target], alias)
			}
		}
	}
}

// hostRef matches a host name in a value: an identifier-like token bounded by URL or list punctuation.
var hostToken = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9_.-]*`)

// rewriteHosts replaces references to renamed services in a value. It returns the new value and whether it changed.
func (pl *planner) rewriteHosts(v string) (string, bool) {
	if len(pl.renames) == 0 {
		return v, false
	}
	changed := false
	var b strings.Builder
	last := 0
	for _, m := range hostToken.FindAllStringIndex(v, -1) {
		tok := v[m[0]:m[1]]
		k8s, ok := pl.renames[tok]
		if !ok || inPath(v, m[0], m[1]) {
			continue
		}
		b.WriteString(v[last:m[0]])
		b.WriteString(k8s)
		last, changed = m[1], true
	}
	if !changed {
		return v, false
	}
	b.WriteString(v[last:])
	return b.String(), true
}

// inPath tells whether v[start:end] is a component of a file path rather than a host: it follows a single slash
// (/data/my_db, ./my_db), or a slash follows it while nothing marks it as a URL's host (my_db/dump.sql, against
// http://my_db/ and user@my_db/).
func inPath(v string, start, end int) bool {
	afterURLMark := strings.HasSuffix(v[:start], "//") || strings.HasSuffix(v[:start], "@")
	if !afterURLMark && strings.HasSuffix(v[:start], "/") {
		return true
	}
	return !afterURLMark && strings.HasPrefix(v[end:], "/")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
