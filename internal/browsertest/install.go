package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/agops/agops/internal/apt"
	"github.com/agops/agops/internal/fsutil"
)

// chromiumNames are the commands Debian's chromium package (and a few other distributions) install.
var chromiumNames = []string{"chromium", "chromium-browser", "/usr/bin/chromium"}

// ErrCannotInstall says that Chromium is missing and this process cannot install it (not root, or no apt-get).
var ErrCannotInstall = errors.New("chromium is not installed and cannot be installed here")

// findChromium returns the path of a Chromium binary on PATH or at Debian's place.
func findChromium() (string, bool) {
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// Chromium returns the path of Chromium, installing Debian's chromium package first when it is missing and the
// process is root. Test binaries that race take turns through the same file lock as the other apt installs
// (internal/pgtest), so only one runs apt-get. The error wraps ErrCannotInstall when installing is impossible.
func Chromium(ctx context.Context) (string, error) {
	if p, ok := findChromium(); ok {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%w: installing it needs root (apt-get install chromium)", ErrCannotInstall)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", fmt.Errorf("%w: no apt-get on PATH (install chromium by hand)", ErrCannotInstall)
	}
	unlock, err := fsutil.Lock(ctx, filepath.Join(os.TempDir(), "agops-apt.lock"))
	if err != nil {
		return "", fmt.Errorf("waiting to install chromium: %w", err)
	}
	defer unlock()
	if p, ok := findChromium(); ok {
		return p, nil // another test binary installed it while we waited
	}
	if err := apt.Install(ctx, "chromium", "fonts-dejavu-core"); err != nil {
		return "", fmt.Errorf("chromium is not installed and installing it failed (install it by hand: "+
			"apt-get install chromium): %w", err)
	}
	if p, ok := findChromium(); ok {
		return p, nil
	}
	return "", errors.New("apt-get installed chromium but no chromium command is on PATH")
}
