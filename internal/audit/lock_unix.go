//go:build unix

package audit

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// lockWait is how long lockFile keeps trying a lock that is held. A writer that has just closed the log can hold
// it for a moment longer: a process forked by the same program (an exec of any child) shares the open file until
// its exec closes it. A second writer that really runs holds it for good.
const lockWait = 500 * time.Millisecond

// lockFile takes an exclusive, non-blocking flock on f, trying again for up to lockWait while another holds it;
// closing f releases it. flock is advisory: it keeps out other Logs, not a process that writes the file without
// asking.
func lockFile(f *os.File) error {
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK) && time.Now().Before(deadline):
			time.Sleep(10 * time.Millisecond)
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return ErrLocked
		}
		return err
	}
}
