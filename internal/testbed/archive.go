package testbed

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Each tools module (tools/testbed, tools/nodes in the repository) is embedded
// as one txtar-style archive (tools.txtar, tools_nodes.txtar): go:embed cannot reach a nested module, and
// Go files inside this package's folder would be compiled into the main
// module. TestToolsArchiveMatchesModule keeps the two in step (-update
// rewrites the archive).

type archiveFile struct {
	Name string
	Data []byte
}

func archiveComment(module string) string {
	return "The tools module of internal/testbed: a copy of " + module + ", kept in step by\n" +
		"TestToolsArchiveMatchesModule (go test ./internal/testbed -run Archive -update).\n"
}

// parseArchive reads the "-- name --" sections of a txtar archive.
func parseArchive(data []byte) []archiveFile {
	var files []archiveFile
	var cur *archiveFile
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if name, ok := archiveMarker(line); ok {
			files = append(files, archiveFile{Name: name})
			cur = &files[len(files)-1]
			continue
		}
		if cur != nil {
			cur.Data = append(cur.Data, line...)
		}
	}
	return files
}

func archiveMarker(line []byte) (string, bool) {
	s := strings.TrimRight(string(line), "\r\n")
	if !strings.HasPrefix(s, "-- ") || !strings.HasSuffix(s, " --") || len(s) < 7 {
		return "", false
	}
	return strings.TrimSpace(s[3 : len(s)-3]), true
}

// formatArchive writes files, sorted by name, as a txtar archive.
func formatArchive(comment string, files []archiveFile) []byte {
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var b bytes.Buffer
	b.WriteString(comment)
	for _, f := range files {
		fmt.Fprintf(&b, "-- %s --\n", f.Name)
		b.Write(f.Data)
		if len(f.Data) > 0 && f.Data[len(f.Data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// extractArchive writes files under dir.
func extractArchive(dir string, files []archiveFile) error {
	for _, f := range files {
		name := filepath.FromSlash(f.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("archive entry %q leaves the folder", f.Name)
		}
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
