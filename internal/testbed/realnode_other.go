//go:build !linux

package testbed

import (
	"context"
	"errors"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
)

var errNotLinux = errors.New("real nodes need Linux")

type realNode struct{ dead bool }

func RealNodesSupported() error { return errNotLinux }

func ensureHostPackages(context.Context) error { return errNotLinux }

func prepareRealNodes(context.Context, options, []Option) (NodeBinaries, error) {
	return NodeBinaries{}, errNotLinux
}

func (c *Cluster) startNetwork(context.Context) error   { return errNotLinux }
func (c *Cluster) startRealNodes(context.Context) error { return errNotLinux }
func (c *Cluster) startAddons(context.Context) error    { return nil }
func (c *Cluster) killRealNode(*realNode) error         { return errNotLinux }
func (c *Cluster) stopRealNodes() error                 { return nil }
func nodeUsers([]NodeSpec) []tokenUser                  { return nil }
func realNodeObject(spec NodeSpec, _ int) *corev1.Node  { return nodeObject(spec) }

type labNet struct{}

func (*labNet) hostIP() string                  { return "127.0.0.1" }
func (*labNet) down(context.Context, int) error { return nil }

// LoadImage needs real nodes, which need Linux.
func (c *Cluster) LoadImage(context.Context, string, v1.Image) error { return errNotLinux }
