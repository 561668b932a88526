package testbed

import (
	"bytes"
	"embed"
	"io/fs"
	"os"
	"sort"
)

// stagesFS holds kwok's stage files (from sigs.k8s.io/kwok v0.8.0,
// kustomize/stage; Apache-2.0): nodes become Ready and renew their lease;
// pods become Running and Ready, Succeeded when all their containers are
// done, and are removed when deleted.
//
//go:embed stages/*.yaml
var stagesFS embed.FS

// writeKwokConfig concatenates the stages into one multi-document file.
func writeKwokConfig(path string) error {
	names, err := fs.Glob(stagesFS, "stages/*.yaml")
	if err != nil {
		return err
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, name := range names {
		data, err := stagesFS.ReadFile(name)
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(bytes.TrimRight(data, "\n"))
		b.WriteString("\n")
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
