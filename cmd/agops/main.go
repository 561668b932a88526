// Command agops takes a Docker Compose AI stack to a production-grade Kubernetes deployment.
package main

import "github.com/agops/agops/internal/cli"

func main() { cli.Main() }
