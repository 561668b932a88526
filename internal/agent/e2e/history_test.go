package e2e

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

var update = flag.Bool("update", false, "record the workflow histories the replay tests use (internal/agent/workflows/testdata/histories)")

// saveHistory writes the history of workflow id as testdata for the workflows package's replay tests, when -update
// is given.
func (l *lab) saveHistory(ctx context.Context, name, id string) {
	l.t.Helper()
	if !*update {
		return
	}
	h := &historypb.History{}
	it := l.client.GetWorkflowHistory(ctx, id, "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			l.t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: " "}.Marshal(h)
	if err != nil {
		l.t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "workflows", "testdata", "histories")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.t.Fatal(err)
	}
	path := filepath.Join(dir, strings.ReplaceAll(name, "/", "-")+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		l.t.Fatal(err)
	}
	// The replayer must know the workflow's ID: children's IDs derive from it.
	if err := os.WriteFile(strings.TrimSuffix(path, ".json")+".id", []byte(id+"\n"), 0o644); err != nil {
		l.t.Fatal(err)
	}
	l.t.Logf("wrote %s (%d events)", path, len(h.Events))
}
