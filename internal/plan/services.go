package plan

import (
	"fmt"
	"net"

	"github.com/agops/agops/internal/model"
)

// ruleServices gives every workload peers can reach a ClusterIP Service whose ports are the container ports, one
// more Service per extra name peers use (hostname, container_name, aliases, links), and a LoadBalancer Service for
// ports published on the host.
func (pl *planner) ruleServices() {
	for _, n := range pl.order {
		pl.used["service/"+pl.names[n]] = true
	}
	for _, n := range pl.primaryServices() {
		w := pl.work[n]
		ports := pl.servicePorts(n)
		switch {
		case len(ports) > 0:
			w.Services = append(w.Services, model.Service{Name: w.Name, Type: model.ClusterIP, Ports: ports})
			pl.record(n, "ports", model.Mapped, fmt.Sprintf("ClusterIP Service %s on %s (Service port = container port)", w.Name, describePorts(ports)), "")
		case pl.waitedServices[w.Name]:
			w.Services = append(w.Services, model.Service{Name: w.Name, Type: model.ClusterIP, Headless: true})
			pl.record(n, "ports", model.Mapped, "no ports: a headless Service "+w.Name+" lets dependents wait for it to be ready", "")
		default:
			if pl.referencedWithoutPort(n) {
				pl.record(n, "ports", model.NeedsInput, "peers refer to this service by name but no port is known", "x-agops: {ports: [PORT]}")
			}
			continue
		}
		pl.aliasServices(n, w)
		pl.external(n, w)
	}
	for _, n := range pl.order {
		if owner, ok := pl.owner[n]; ok && len(pl.ports[n]) > 0 {
			pl.record(n, "ports", model.Mapped, fmt.Sprintf("served by Service %s of the shared pod", pl.names[owner]), "")
		}
	}
}

func (pl *planner) servicePorts(n string) []model.ServicePort {
	var out []model.ServicePort
	for _, p := range pl.ports[n] {
		out = append(out, model.ServicePort{Name: portName(p), Port: p.port, TargetPort: p.port, Protocol: p.proto})
	}
	return out
}

func describePorts(ps []model.ServicePort) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d/%s", p.Port, p.Protocol)
	}
	return s
}

// referencedWithoutPort tells whether any peer's environment names the service as a bare host.
func (pl *planner) referencedWithoutPort(n string) bool {
	names := map[string]bool{n: true, pl.names[n]: true}
	for _, a := range pl.aliases[n] {
		names[a] = true
	}
	for _, m := range pl.order {
		if m == n {
			continue
		}
		for _, v := range pl.svcs[m].Environment {
			if v != nil && names[*v] {
				return true
			}
		}
	}
	return false
}

func (pl *planner) aliasServices(n string, w *model.Workload) {
	seen := map[string]bool{}
	for _, alias := range pl.aliases[n] {
		name := dns1035(alias)
		if seen[name] || name == w.Name {
			continue
		}
		seen[name] = true
		if pl.used["service/"+name] {
			pl.record(n, "aliases", model.NeedsInput, fmt.Sprintf("alias %q clashes with another Service name %s", alias, name), "rename the alias")
			continue
		}
		pl.used["service/"+name] = true
		w.Services = append(w.Services, model.Service{Name: name, Type: model.ClusterIP, Ports: w.Services[0].Ports, Headless: w.Services[0].Headless})
		pl.record(n, "aliases", model.Mapped, fmt.Sprintf("peers' name %q resolves through Service %s", alias, name), "")
	}
}

// external builds the LoadBalancer Service of published ports. Ports bound to loopback stay private.
func (pl *planner) external(n string, w *model.Workload) {
	var ports []model.ServicePort
	for _, p := range pl.ports[n] {
		for _, pub := range p.published {
			ip := net.ParseIP(pub.hostIP)
			if ip != nil && ip.IsLoopback() {
				pl.record(n, "ports", model.Approximated,
					fmt.Sprintf("%s:%d:%d is bound to loopback: not exposed outside the cluster; use kubectl port-forward -n %s svc/%s %d:%d",
						pub.hostIP, pub.port, p.port, pl.nsOf(n), w.Name, pub.port, p.port), "")
				continue
			}
			if ip != nil && !ip.IsUnspecified() {
				pl.record(n, "ports", model.Approximated, fmt.Sprintf("published on host address %s: the LoadBalancer listens on every node address", pub.hostIP), "")
			}
			ports = appendServicePort(ports, model.ServicePort{Name: fmt.Sprintf("%s-%d", lowerProto(p.proto), pub.port), Port: pub.port, TargetPort: p.port, Protocol: p.proto})
		}
	}
	if len(ports) == 0 {
		return
	}
	w.External = &model.Service{Name: pl.unique("service", w.Name+"-public"), Type: model.LoadBalancer, Ports: ports}
	pl.record(n, "ports", model.Mapped, fmt.Sprintf("published %s: LoadBalancer Service %s (k3s serves it on every node)", describePorts(ports), w.External.Name), "")
}

func appendServicePort(ps []model.ServicePort, p model.ServicePort) []model.ServicePort {
	for _, have := range ps {
		if have.Port == p.Port && have.Protocol == p.Protocol {
			return ps
		}
	}
	return append(ps, p)
}

func lowerProto(p model.Protocol) string {
	switch p {
	case model.UDP:
		return "udp"
	case model.SCTP:
		return "sctp"
	}
	return "tcp"
}
