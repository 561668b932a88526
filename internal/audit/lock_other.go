//go:build !unix

package audit

import (
	"errors"
	"os"
)

// lockFile fails: without flock a second writer could interleave lines, so the log refuses to open (fail closed).
func lockFile(*os.File) error {
	return errors.New("audit log: exclusive file locks are only implemented on unix")
}
