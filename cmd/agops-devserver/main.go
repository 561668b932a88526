// Command agops-devserver is the Temporal server of `agops dev` (internal/devserver/embedded), a program of its own so
// that the agops command does not link Temporal's server. agops dev finds it next to its own executable, or builds it
// from the module agops was built from; see internal/devserver.
package main

import (
	"os"

	"github.com/agops/agops/internal/devserver/embedded"
)

func main() { os.Exit(embedded.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
