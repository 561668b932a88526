// Package realnodes holds the end-to-end tests on nodes that run containers (internal/testbed's real nodes): the
// example and every golden project with stand-ins, depends_on's order, the gateway in the cluster and an agent team,
// each with a host killed or a pod lost. They are their own package so that `go test ./...` runs them beside
// internal/e2e's tests on simulated nodes.
package realnodes
