package plan

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/model"
)

// ruleScheduling maps where and how a pod runs: platform and placement constraints, hostname, extra hosts, DNS
// and the stop grace period.
func (pl *planner) ruleScheduling() {
	for _, n := range pl.primaryServices() {
		s := pl.svcs[n]
		w := pl.work[n]
		pl.platform(n, s, w)
		pl.placement(n, s, w)
		if s.Hostname != "" {
			w.Pod.Hostname = dns1035(s.Hostname)
			pl.record(n, "hostname", model.Mapped, "pod hostname "+w.Pod.Hostname+"; peers reach the name through a Service", "")
		}
		if s.StopGracePeriod != nil {
			secs := int64(time.Duration(*s.StopGracePeriod).Seconds())
			w.Pod.TerminationGracePeriodSeconds = &secs
			pl.record(n, "stop_grace_period", model.Mapped, fmt.Sprintf("terminationGracePeriodSeconds %d", secs), "")
		}
	}
	for _, n := range pl.order {
		w := pl.workloadOf(n)
		if w == nil {
			continue
		}
		pl.extraHosts(n, pl.svcs[n], w)
		pl.dns(n, pl.svcs[n], w)
	}
}

func (pl *planner) platform(n string, s types.ServiceConfig, w *model.Workload) {
	if s.Platform == "" {
		return
	}
	parts := strings.Split(s.Platform, "/")
	if parts[0] == "wasi" {
		pl.record(n, "platform", model.Approximated, "wasi/wasm runs on any node through a Wasm runtime (see runtime), not on a wasm node", "")
		return
	}
	w.Pod.NodeSelector = setKey(w.Pod.NodeSelector, "kubernetes.io/os", parts[0])
	if len(parts) > 1 {
		w.Pod.NodeSelector["kubernetes.io/arch"] = parts[1]
	}
	pl.record(n, "platform", model.Mapped, "nodeSelector on kubernetes.io/os and kubernetes.io/arch", "")
}

func setKey(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

func (pl *planner) placement(n string, s types.ServiceConfig, w *model.Workload) {
	if s.Deploy == nil {
		return
	}
	for _, c := range s.Deploy.Placement.Constraints {
		field, value, ok := strings.Cut(c, "==")
		field, value = strings.TrimSpace(field), strings.TrimSpace(value)
		switch {
		case ok && strings.HasPrefix(field, "node.labels."):
			w.Pod.NodeSelector = setKey(w.Pod.NodeSelector, strings.TrimPrefix(field, "node.labels."), value)
			pl.record(n, "deploy.placement", model.Mapped, "nodeSelector "+strings.TrimPrefix(field, "node.labels.")+"="+value, "")
		case ok && field == "node.hostname":
			w.Pod.NodeSelector = setKey(w.Pod.NodeSelector, "kubernetes.io/hostname", value)
			pl.record(n, "deploy.placement", model.Mapped, "nodeSelector kubernetes.io/hostname="+value, "")
		case ok && field == "node.platform.arch":
			w.Pod.NodeSelector = setKey(w.Pod.NodeSelector, "kubernetes.io/arch", value)
			pl.record(n, "deploy.placement", model.Mapped, "nodeSelector kubernetes.io/arch="+value, "")
		default:
			pl.record(n, "deploy.placement", model.Dropped, "placement constraint "+c+" is Swarm's; use node labels", "")
		}
	}
	if len(s.Deploy.Placement.Preferences) > 0 || s.Deploy.Placement.MaxReplicas > 0 {
		pl.record(n, "deploy.placement", model.Approximated, "spread preferences: the ha overlay spreads replicas over nodes", "")
	}
}

func (pl *planner) extraHosts(n string, s types.ServiceConfig, w *model.Workload) {
	for _, host := range sortedKeys(s.ExtraHosts) {
		for _, ip := range s.ExtraHosts[host] {
			if net.ParseIP(ip) == nil {
				pl.record(n, "extra_hosts", model.NeedsInput, fmt.Sprintf("%s=%s: %s is not an IP address (host-gateway has no meaning in a cluster)", host, ip, ip),
					"use the address the service should reach, or a Service")
				continue
			}
			w.Pod.HostAliases = appendHostAlias(w.Pod.HostAliases, ip, host)
			pl.record(n, "extra_hosts", model.Mapped, fmt.Sprintf("hostAliases %s=%s", host, ip), "")
		}
	}
}

func appendHostAlias(has []model.HostAlias, ip, host string) []model.HostAlias {
	for i := range has {
		if has[i].IP == ip {
			has[i].Hostnames = append(has[i].Hostnames, host)
			return has
		}
	}
	return append(has, model.HostAlias{IP: ip, Hostnames: []string{host}})
}

func (pl *planner) dns(n string, s types.ServiceConfig, w *model.Workload) {
	if len(s.DNS)+len(s.DNSSearch)+len(s.DNSOpts) == 0 {
		return
	}
	if w.Pod.DNS == nil {
		w.Pod.DNS = &model.DNS{}
	}
	w.Pod.DNS.Nameservers = append(w.Pod.DNS.Nameservers, s.DNS...)
	w.Pod.DNS.Searches = append(w.Pod.DNS.Searches, s.DNSSearch...)
	for _, o := range s.DNSOpts {
		k, v, _ := strings.Cut(o, ":")
		w.Pod.DNS.Options = append(w.Pod.DNS.Options, model.KeyValue{Name: k, Value: v})
	}
	pl.record(n, "dns", model.Approximated, "added to the pod's dnsConfig; cluster DNS stays first so Service names keep resolving", "")
}
