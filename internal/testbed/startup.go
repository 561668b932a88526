package testbed

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/agops/agops/internal/kubeclient"
)

// waitFor polls cond until it holds, a child exits, or the readiness timeout
// or ctx ends.
func (c *Cluster) waitFor(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, c.readyWithin)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if p := c.deadProcess(); p != nil {
			return fmt.Errorf("waiting for %s: %w", what, p.failure())
		}
		ok, err := cond(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// httpOK reports whether a GET of url answers 200.
func httpOK(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	if _, err := c.run("etcd", c.bins.Etcd, etcdArgs(c.paths, c.ports)); err != nil {
		return err
	}
	url := "http://" + loopback(c.ports.etcdClient) + "/health"
	return c.waitFor(ctx, "etcd", func(ctx context.Context) (bool, error) {
		return httpOK(ctx, http.DefaultClient, url), nil
	})
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	if _, err := c.run("kube-apiserver", c.bins.APIServer, apiServerArgs(c.paths, c.ports, c.apiAddress())); err != nil {
		return err
	}
	// The API server writes its self-signed serving certificate, followed by
	// its CA, at start; clients and the controller manager trust that CA.
	var bundle []byte
	err := c.waitFor(ctx, "kube-apiserver certificate", func(context.Context) (bool, error) {
		data, err := os.ReadFile(c.paths.servingCert())
		bundle = data
		return err == nil && strings.Count(string(data), "END CERTIFICATE") >= 2, nil
	})
	if err != nil {
		return err
	}
	ca := caCertificates(bundle)
	if err := os.WriteFile(c.paths.rootCA(), ca, 0o644); err != nil {
		return fmt.Errorf("writing root CA: %w", err)
	}
	c.config = &rest.Config{
		Host:            "https://" + net.JoinHostPort(c.apiAddress(), strconv.Itoa(c.ports.apiServer)),
		BearerToken:     c.token,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca},
		QPS:             50,
		Burst:           100,
	}
	if c.client, err = kubeclient.New(c.config); err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	if err := writeKubeconfig(c.paths.kubeconfig, c.config); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return c.waitFor(ctx, "kube-apiserver", func(ctx context.Context) (bool, error) {
		_, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil, nil
	})
}

func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["testbed"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[adminUser] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["testbed"] = &clientcmdapi.Context{Cluster: "testbed", AuthInfo: adminUser, Namespace: "default"}
	kc.CurrentContext = "testbed"
	return clientcmd.WriteToFile(*kc, path)
}

// startControllers starts the controller manager and the scheduler and
// waits for their health endpoints and for the default service account.
func (c *Cluster) startControllers(ctx context.Context) error {
	if _, err := c.run("kube-controller-manager", c.bins.ControllerManager, controllerManagerArgs(c.paths, c.ports)); err != nil {
		return err
	}
	if _, err := c.run("kube-scheduler", c.bins.Scheduler, schedulerArgs(c.paths, c.ports)); err != nil {
		return err
	}
	// Their serving certificates are self-signed in memory; this is a
	// loopback health probe, nothing else goes over it.
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for name, port := range map[string]int{"kube-controller-manager": c.ports.controllerManager, "kube-scheduler": c.ports.scheduler} {
		url := "https://" + loopback(port) + "/healthz"
		if err := c.waitFor(ctx, name, func(ctx context.Context) (bool, error) {
			return httpOK(ctx, insecure, url), nil
		}); err != nil {
			return err
		}
	}
	return c.waitFor(ctx, "default service account", func(ctx context.Context) (bool, error) {
		_, err := c.client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

// startStorage creates the default StorageClass and starts the PV binder.
func (c *Cluster) startStorage(ctx context.Context) error {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	return c.startBinder(bctx)
}

// startNodes creates the Node objects, starts one kwok per node and waits
// until all are Ready.
func (c *Cluster) startNodes(ctx context.Context) error {
	if c.realNodes {
		return c.startRealNodes(ctx)
	}
	if err := c.createNodes(ctx); err != nil {
		return err
	}
	for i, n := range c.nodes {
		p, err := c.run("kwok-"+n.Name, c.bins.Kwok, kwokArgs(c.paths, c.ports, i, n.Name))
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.kwok[n.Name] = p
		c.mu.Unlock()
	}
	return c.waitFor(ctx, "nodes", c.nodesReady)
}

// apiAddress is where the API server listens: loopback, or the test network's bridge for real nodes.
func (c *Cluster) apiAddress() string {
	if c.net != nil {
		return c.net.hostIP()
	}
	return "127.0.0.1"
}
