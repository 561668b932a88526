// Command coredns is a CoreDNS with the few plugins that a Kubernetes cluster
// DNS Corefile (k3s's or kubeadm's) uses. It serves cluster DNS on agops's
// real-node test bed only; internal/testbed builds it from this module and packs
// the static binary as an image.
//
// CoreDNS's own main imports core/plugin, which pulls in every plugin and its
// dependencies (cloud SDKs, etcd, ...). This main imports only the plugins
// below and sets dnsserver.Directives to them, in the execution order of
// CoreDNS's plugin.cfg. A Corefile that names a plugin not listed here fails to
// load with "unknown directive".
package main

import (
	"fmt"
	"os"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// The plugins, each registering itself with caddy in its init.
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metrics" // "prometheus"; the cache plugin links it anyway
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// directives is the order in which the plugins handle a query: the order of
// CoreDNS's plugin.cfg, restricted to the plugins imported above.
var directives = []string{
	"reload",
	"ready",
	"health",
	"prometheus",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"hosts",
	"kubernetes",
	"forward",
}

func main() {
	if err := dnsserver.SetDirectives(directives); err != nil {
		fmt.Fprintln(os.Stderr, "coredns:", err)
		os.Exit(1)
	}
	coremain.Run()
}
