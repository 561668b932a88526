package gateway

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFileSystem has the file system that holds dir write out everything (syncfs(2)): every file written there so
// far is durable when it returns.
func syncFileSystem(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}
