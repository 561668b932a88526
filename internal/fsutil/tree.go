// Package fsutil writes a whole tree of files atomically: all of it appears, or nothing changes.
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Marker is a file whose presence shows that a folder was written by agops and may be replaced.
const Marker = "report.json"

// File is one file of a tree: its content and its permissions, applied exactly (not through the umask).
type File struct {
	Data []byte
	Mode fs.FileMode
}

// WriteTree writes files (slash-separated relative paths, mode 0644) into dir. It writes into a temporary sibling
// folder and renames it into place, so that on any error dir is left as it was. An existing dir is replaced only if
// it is empty or holds the Marker of an earlier run.
func WriteTree(dir string, files map[string][]byte) error {
	tree := make(map[string]File, len(files))
	for name, data := range files {
		tree[name] = File{Data: data, Mode: 0o644}
	}
	return WriteFiles(dir, tree, Marker, "agops")
}

// WriteFiles is WriteTree with each file's mode, for a tree whose earlier runs left marker and that writer (the
// command, for the error) wrote. Folders are 0755, except those holding a private file (no group or other bits),
// which are 0700.
func WriteFiles(dir string, files map[string]File, marker, writer string) (err error) {
	for name := range files {
		if err := checkName(name); err != nil {
			return err
		}
	}
	s, err := Stage(dir, marker, writer)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.Abort()
		}
	}()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := s.Write(name, files[name]); err != nil {
			return err
		}
	}
	return s.Commit()
}

// Staged is an output folder being written file by file, for a writer that produces its files one at a time and
// should not hold them all: they go into a temporary sibling folder, which Commit moves into place and Abort
// removes, so that dir is replaced whole or not at all (the same guarantee as WriteFiles).
type Staged struct {
	dir, tmp string
	// created is the first folder above dir that Stage created, removed again by Abort; empty when none was.
	created string
}

// Stage checks that dir may be replaced by writer's output (see Replaceable) and starts its replacement.
func Stage(dir, marker, writer string) (*Staged, error) {
	dir = filepath.Clean(dir)
	if err := Replaceable(dir, marker, writer); err != nil {
		return nil, err
	}
	parent := filepath.Dir(dir)
	s := &Staged{dir: dir, created: firstMissing(parent)}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".agops-*")
	if err != nil {
		s.removeCreated()
		return nil, fmt.Errorf("creating a temporary folder beside %s: %w", dir, err)
	}
	s.tmp = tmp
	if err := os.Chmod(tmp, 0o755); err != nil {
		s.Abort()
		return nil, err
	}
	return s, nil
}

// Write writes one file (a slash-separated path below the folder). It may be called from several goroutines at once.
func (s *Staged) Write(name string, f File) error {
	if err := checkName(name); err != nil {
		return err
	}
	return writeFile(s.tmp, name, f)
}

// Commit moves the written files into place of the folder.
func (s *Staged) Commit() error {
	if err := swap(s.tmp, s.dir); err != nil {
		s.Abort()
		return err
	}
	return nil
}

// Abort removes everything written so far, and the folders Stage created above the output folder.
func (s *Staged) Abort() {
	os.RemoveAll(s.tmp)
	s.removeCreated()
}

func (s *Staged) removeCreated() {
	if s.created == "" {
		return
	}
	for d := filepath.Dir(s.dir); ; d = filepath.Dir(d) {
		if os.Remove(d) != nil || d == s.created {
			return
		}
	}
}

// firstMissing returns the highest folder of dir's path that does not exist yet, or "" when dir exists.
func firstMissing(dir string) string {
	missing := ""
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			return missing
		}
		missing = d
		if filepath.Dir(d) == d {
			return missing
		}
	}
}

// writeFile writes one file below root, creating its folder.
func writeFile(root, name string, f File) error {
	p := filepath.Join(root, filepath.FromSlash(name))
	dirMode := os.FileMode(0o755)
	if f.Mode&0o077 == 0 {
		dirMode = 0o700
	}
	if err := os.MkdirAll(filepath.Dir(p), dirMode); err != nil {
		return err
	}
	if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
		return err
	}
	return os.Chmod(p, f.Mode) // WriteFile's mode passes through the umask
}

// Replaceable tells whether dir may be replaced by writer's output: it does not exist, is empty, or holds marker.
func Replaceable(dir, marker, writer string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("output folder %s: %w", dir, err)
	case len(entries) == 0:
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
		return fmt.Errorf("output folder %s is not empty and was not written by %s; choose another -o", dir, writer)
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
