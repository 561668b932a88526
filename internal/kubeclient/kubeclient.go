// Package kubeclient is the typed Kubernetes client agops's packages share: the API groups they call, each through
// client-go's typed client for that group. client-go's clientset (k8s.io/client-go/kubernetes) would link a client
// for every API group — about a hundred generated packages — into agops, the first build on a new machine (issue
// 17). Interface is the part of kubeclient.Interface agops uses, so a clientset (or client-go's fake one, in tests)
// serves wherever a kubeclient.Interface is asked for.
package kubeclient

import (
	"fmt"
	"net/http"

	"k8s.io/client-go/discovery"
	appsv1 "k8s.io/client-go/kubernetes/typed/apps/v1"
	authenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	batchv1 "k8s.io/client-go/kubernetes/typed/batch/v1"
	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	discoveryv1 "k8s.io/client-go/kubernetes/typed/discovery/v1"
	networkingv1 "k8s.io/client-go/kubernetes/typed/networking/v1"
	nodev1 "k8s.io/client-go/kubernetes/typed/node/v1"
	policyv1 "k8s.io/client-go/kubernetes/typed/policy/v1"
	rbacv1 "k8s.io/client-go/kubernetes/typed/rbac/v1"
	storagev1 "k8s.io/client-go/kubernetes/typed/storage/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Interface is the API groups agops calls; *kubernetes.Clientset and client-go's fake clientset implement it.
type Interface interface {
	Discovery() discovery.DiscoveryInterfaces
	AppsV1() appsv1.AppsV1Interface
	AuthenticationV1() authenticationv1.AuthenticationV1Interface
	BatchV1() batchv1.BatchV1Interface
	CoreV1() corev1.CoreV1Interface
	DiscoveryV1() discoveryv1.DiscoveryV1Interface
	NetworkingV1() networkingv1.NetworkingV1Interface
	NodeV1() nodev1.NodeV1Interface
	PolicyV1() policyv1.PolicyV1Interface
	RbacV1() rbacv1.RbacV1Interface
	StorageV1() storagev1.StorageV1Interface
}

// Clientset is Interface over one cluster's API server.
type Clientset struct {
	discovery        *discovery.DiscoveryClient
	appsV1           *appsv1.AppsV1Client
	authenticationV1 *authenticationv1.AuthenticationV1Client
	batchV1          *batchv1.BatchV1Client
	coreV1           *corev1.CoreV1Client
	discoveryV1      *discoveryv1.DiscoveryV1Client
	networkingV1     *networkingv1.NetworkingV1Client
	nodeV1           *nodev1.NodeV1Client
	policyV1         *policyv1.PolicyV1Client
	rbacV1           *rbacv1.RbacV1Client
	storageV1        *storagev1.StorageV1Client
}

// New connects to the API server of cfg as kubernetes.NewForConfig does: one HTTP client and one rate limiter
// shared by every group.
func New(cfg *rest.Config) (*Clientset, error) {
	c := *cfg
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	httpClient, err := rest.HTTPClientFor(&c)
	if err != nil {
		return nil, err
	}
	if c.RateLimiter == nil && c.QPS > 0 {
		if c.Burst <= 0 {
			return nil, fmt.Errorf("kubeclient: a QPS of %v needs a Burst above 0", c.QPS)
		}
		c.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(c.QPS, c.Burst)
	}
	cs := &Clientset{
		discovery:        connect(&err, discovery.NewDiscoveryClientForConfigAndClient, &c, httpClient),
		appsV1:           connect(&err, appsv1.NewForConfigAndClient, &c, httpClient),
		authenticationV1: connect(&err, authenticationv1.NewForConfigAndClient, &c, httpClient),
		batchV1:          connect(&err, batchv1.NewForConfigAndClient, &c, httpClient),
		coreV1:           connect(&err, corev1.NewForConfigAndClient, &c, httpClient),
		discoveryV1:      connect(&err, discoveryv1.NewForConfigAndClient, &c, httpClient),
		networkingV1:     connect(&err, networkingv1.NewForConfigAndClient, &c, httpClient),
		nodeV1:           connect(&err, nodev1.NewForConfigAndClient, &c, httpClient),
		policyV1:         connect(&err, policyv1.NewForConfigAndClient, &c, httpClient),
		rbacV1:           connect(&err, rbacv1.NewForConfigAndClient, &c, httpClient),
		storageV1:        connect(&err, storagev1.NewForConfigAndClient, &c, httpClient),
	}
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// connect makes one group's client unless an earlier one failed (*err).
func connect[T any](err *error, newClient func(*rest.Config, *http.Client) (T, error), c *rest.Config, h *http.Client) T {
	var client T
	if *err == nil {
		client, *err = newClient(c, h)
	}
	return client
}

func (c *Clientset) Discovery() discovery.DiscoveryInterfaces { return c.discovery }
func (c *Clientset) AppsV1() appsv1.AppsV1Interface           { return c.appsV1 }
func (c *Clientset) AuthenticationV1() authenticationv1.AuthenticationV1Interface {
	return c.authenticationV1
}
func (c *Clientset) BatchV1() batchv1.BatchV1Interface                { return c.batchV1 }
func (c *Clientset) CoreV1() corev1.CoreV1Interface                   { return c.coreV1 }
func (c *Clientset) DiscoveryV1() discoveryv1.DiscoveryV1Interface    { return c.discoveryV1 }
func (c *Clientset) NetworkingV1() networkingv1.NetworkingV1Interface { return c.networkingV1 }
func (c *Clientset) NodeV1() nodev1.NodeV1Interface                   { return c.nodeV1 }
func (c *Clientset) PolicyV1() policyv1.PolicyV1Interface             { return c.policyV1 }
func (c *Clientset) RbacV1() rbacv1.RbacV1Interface                   { return c.rbacV1 }
func (c *Clientset) StorageV1() storagev1.StorageV1Interface          { return c.storageV1 }
