// Package fsutil writes a whole tree of files atomically: all of it appears, or nothing changes.
package fsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Marker is a file whose presence shows that a folder was written by agops and may be replaced.
const Marker = "report.json"

// WriteTree writes files (slash-separated relative paths) into dir. It writes into a temporary sibling folder and
// renames it into place, so that on any error dir is left as it was. An existing dir is replaced only if it is
// empty or holds the Marker of an earlier run.
func WriteTree(dir string, files map[string][]byte) (err error) {
	dir = filepath.Clean(dir)
	for name := range files {
		if err := checkName(name); err != nil {
			return err
		}
	}
	if err := replaceable(dir); err != nil {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".agops-*")
	if err != nil {
		return fmt.Errorf("creating a temporary folder beside %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	if err := writeAll(tmp, names, files); err != nil {
		return err
	}
	return swap(tmp, dir)
}

// writeAll writes every file below root, creating each folder once.
func writeAll(root string, names []string, files map[string][]byte) error {
	made := map[string]bool{}
	for _, name := range names {
		p := filepath.Join(root, filepath.FromSlash(name))
		if dir := filepath.Dir(p); !made[dir] {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			made[dir] = true
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

func replaceable(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("output folder %s: %w", dir, err)
	case len(entries) == 0:
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, Marker)); err != nil {
		return fmt.Errorf("output folder %s is not empty and was not written by agops; choose another -o", dir)
	}
	return nil
}

// swap moves tmp into place of dir, keeping the old dir until the new one is in place.
func swap(tmp, dir string) error {
	old := ""
	if _, err := os.Stat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("replacing %s: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			_ = os.Rename(old, dir)
		}
		return fmt.Errorf("moving the output into %s: %w", dir, err)
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// checkName refuses names that would land outside the output folder.
func checkName(name string) error {
	if name == "" || filepath.IsAbs(name) || strings.HasPrefix(name, "/") {
		return fmt.Errorf("refusing to write %q outside the output folder", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return fmt.Errorf("refusing to write %q outside the output folder", name)
		}
	}
	return nil
}
