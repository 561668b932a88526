package e2e

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/agops/agops/internal/agent/runs"
	"github.com/agops/agops/internal/devserver"
	"github.com/agops/agops/internal/gateway"
)

// TestDevKilledMidRun runs a team on `agops dev` (embedded Temporal on SQLite, gateway and worker in one process)
// and kills that process twice with SIGKILL: while the run waits for an approval, and while a model call is in
// flight. Each time `agops dev` is started again on the same state folder, and the run completes with the result an
// uninterrupted run gives.
func TestDevKilledMidRun(t *testing.T) {
	t.Parallel()
	l := newLab(t, researchScript) // its tool server, model and policy; its own Temporal and gateway stay unused
	state := filepath.Join(t.TempDir(), "state")
	port, err := devserver.FreeBase()
	if err != nil {
		t.Fatal(err)
	}
	gw, admin := freeAddr(t), freeAddr(t)
	args := []string{"dev", "--state", state, "--port", strconv.Itoa(port), "--policy", filepath.Join(l.dir, "policy.yaml"),
		"--agent", workerAgent, "--gateway-listen", gw, "--gateway-admin-listen", admin, "--console-listen", freeAddr(t), "--model", "*=" + l.model.URL()}
	dev := startAgops(t, "dev-1", args...)
	dev.waitLog("dev ready", 2*time.Minute)
	c, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port), Logger: devserver.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	id, err := runs.Start(ctx, c, l.team(researchTeam), "what changed?", runs.StartOptions{Heartbeat: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l.client = c
	pending := l.waitPending(ctx, id)

	dev.kill() // 1: while the run waits for a person
	dev = startAgops(t, "dev-2", args...)
	dev.waitLog("dev ready", 2*time.Minute)
	l.model.Delay(time.Minute)
	tok, approver, err := gateway.FirstToken(filepath.Join(state, "admin-tokens")) // agops dev made it
	if err != nil {
		t.Fatal(err)
	}
	if err := runs.Approve(ctx, c, &gateway.AdminClient{BaseURL: "http://" + admin, Token: tok}, id, pending.ID, true, approver, ""); err != nil {
		t.Fatal(err)
	}
	for l.model.CountFor("You are the writer") == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the writer was never asked")
		case <-time.After(50 * time.Millisecond):
		}
	}
	dev.kill() // 2: while the writer's model call is in flight
	l.model.Delay(0)
	dev = startAgops(t, "dev-3", args...)
	dev.waitLog("dev ready", 2*time.Minute)

	res, err := runs.Result(ctx, c, id)
	if err != nil {
		t.Fatal(err)
	}
	const want = "report on: what changed?\n\nThe previous agent (researcher) answered:\nresearch done: deployed v2"
	if res.Output != want {
		t.Errorf("output %q, want %q", res.Output, want)
	}
	if l.tools.runs("deploy") != 1 || l.tools.runs("echo") != 1 {
		t.Errorf("tools ran: deploy %d, echo %d", l.tools.runs("deploy"), l.tools.runs("echo"))
	}
	if l.model.Duplicates() != 0 {
		t.Errorf("%d model calls were answered twice", l.model.Duplicates())
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
