package audit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/agops/agops/internal/audit"
)

func Example() {
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "audit.log")

	l, err := audit.Open(path, audit.WithAnchor(true))
	if err != nil {
		fmt.Println(err)
		return
	}
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, r := range []audit.Record{
		{Time: at, Event: "decision", RequestID: "r1", Caller: "ai-lab/agent-worker", Decision: "allow"},
		{Time: at.Add(time.Second), Event: "decision", RequestID: "r2", Caller: "ai-lab/agent-worker", Decision: "deny"},
	} {
		if err := l.Append(context.Background(), r); err != nil {
			fmt.Println(err) // the gateway fails closed: the call is not forwarded
			return
		}
	}
	if err := l.Close(); err != nil {
		fmt.Println(err)
	}

	sum, err := audit.VerifyFile(path)
	fmt.Println(sum.Records, sum.Decisions, sum.Anchor.Seq, err)
	// Output: 2 map[allow:1 deny:1] 2 <nil>
}
