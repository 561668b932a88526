// Package apt installs Debian packages that tests and the test bed need (PostgreSQL, containerd, iptables) when the
// machine lacks them, the way a fresh CI machine does.
package apt

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Install runs apt-get update and apt-get install -y --no-install-recommends for pkgs, waiting up to 10 minutes
// (dpkg's own lock included, when another process installs at the same time).
func Install(ctx context.Context, pkgs ...string) error {
	if len(pkgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	wait := []string{"-o", "DPkg::Lock::Timeout=600"}
	for _, args := range [][]string{{"update"}, append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)} {
		cmd := exec.CommandContext(ctx, "apt-get", append(wait, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// Missing returns the commands of want (command name → package) not found on PATH, as the packages to install,
// each once, in the order of cmds.
func Missing(cmds []string, pkgOf map[string]string) []string {
	var pkgs []string
	seen := map[string]bool{}
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err == nil {
			continue
		}
		p := pkgOf[c]
		if p == "" {
			p = c
		}
		if !seen[p] {
			seen[p] = true
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}
