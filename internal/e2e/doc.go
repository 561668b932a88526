// Package e2e holds the end-to-end tests: migrated projects applied to a real control plane (internal/testbed),
// every object accepted and every workload ready, for both overlays, and host failures rehearsed.
package e2e
