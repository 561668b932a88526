package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/agops/agops/internal/apt"
	"github.com/agops/agops/internal/fsutil"
)

// debianGlob is where Debian's postgresql-NN packages put their server binaries.
const debianGlob = "/usr/lib/postgresql/*/bin"

// binaries are the two server programs the fixture runs.
type binaries struct {
	initdb, postgres string
}

// findBinaries looks for initdb and postgres on PATH, then in the newest folder matching glob.
func findBinaries(glob string) (binaries, bool) {
	initdb, err1 := exec.LookPath("initdb")
	postgres, err2 := exec.LookPath("postgres")
	if err1 == nil && err2 == nil {
		return binaries{initdb: initdb, postgres: postgres}, true
	}
	dirs, _ := filepath.Glob(glob)
	sort.Slice(dirs, func(i, j int) bool { return versionLess(dirs[j], dirs[i]) })
	for _, dir := range dirs {
		b := binaries{initdb: filepath.Join(dir, "initdb"), postgres: filepath.Join(dir, "postgres")}
		if executable(b.initdb) && executable(b.postgres) {
			return b, true
		}
	}
	return binaries{}, false
}

// versionLess orders folders like /usr/lib/postgresql/9.6/bin and /usr/lib/postgresql/15/bin by their version.
func versionLess(a, b string) bool {
	va, vb := version(a), version(b)
	for i := 0; i < len(va) && i < len(vb); i++ {
		if va[i] != vb[i] {
			return va[i] < vb[i]
		}
	}
	return len(va) < len(vb)
}

// version reads the numbers of the version folder above bin ("9.6" → [9 6]); anything else reads as [].
func version(binDir string) []int {
	var v []int
	for _, part := range strings.Split(filepath.Base(filepath.Dir(binDir)), ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil
		}
		v = append(v, n)
	}
	return v
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// locateBinaries finds PostgreSQL's initdb and postgres, installing Debian's postgresql package when they are missing and
// the process is root. Parallel test binaries take turns through a file lock.
func locateBinaries(ctx context.Context) (binaries, error) {
	if b, ok := findBinaries(debianGlob); ok {
		return b, nil
	}
	if os.Geteuid() != 0 {
		return binaries{}, errors.New("PostgreSQL is not installed (no initdb and postgres on PATH or in " + debianGlob +
			"): install its server, e.g. apt-get install postgresql")
	}
	unlock, err := fsutil.Lock(ctx, filepath.Join(os.TempDir(), "agops-apt.lock"))
	if err != nil {
		return binaries{}, fmt.Errorf("waiting to install PostgreSQL: %w", err)
	}
	defer unlock()
	if b, ok := findBinaries(debianGlob); ok {
		return b, nil // another test binary installed it while we waited
	}
	if err := apt.Install(ctx, "postgresql"); err != nil {
		return binaries{}, fmt.Errorf("PostgreSQL is not installed and installing it failed (install it by hand: "+
			"apt-get install postgresql): %w", err)
	}
	if b, ok := findBinaries(debianGlob); ok {
		return b, nil
	}
	return binaries{}, errors.New("apt-get installed postgresql but initdb and postgres are still not found in " + debianGlob)
}
