package mcptest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestEverythingAndInspector starts the real server and drives it with the real Inspector: the peers other tests
// rely on work here.
func TestEverythingAndInspector(t *testing.T) {
	s := StartEverything(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := Install(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Inspector(ctx, dir, s.URL, "--method", "tools/list")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Tools []struct{ Name string } `json:"tools"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("tools/list: %v\n%s", err, out)
	}
	names := map[string]bool{}
	for _, tl := range list.Tools {
		names[tl.Name] = true
	}
	for _, want := range []string{"echo", "get-sum", "get-env"} {
		if !names[want] {
			t.Errorf("server-everything lists no %s tool: %v", want, names)
		}
	}
	out, err = Inspector(ctx, dir, s.URL, "--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=hello")
	if err != nil || !strings.Contains(string(out), "Echo: hello") {
		t.Errorf("echo: %v\n%s", err, out)
	}
}
