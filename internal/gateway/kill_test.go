package gateway_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/gateway"
	"github.com/agops/agops/internal/mcptest"
)

const childEnv = "AGOPS_GATEWAY_TEST_CHILD"

// minCallsBeforeKill is how many calls the agents must have seen succeed before the gateway is killed.
const minCallsBeforeKill = 50

const loadPolicy = `apiVersion: agops.dev/v1alpha1
kind: FleetPolicy
metadata: {name: load}
spec:
  servers: [{name: tools, url: "%s", kind: mcp}]
  agents:
    - name: load/agent
      grants: [{server: tools, tools: [echo]}]
`

// TestKillUnderLoad kills the gateway process with SIGKILL while agents call through it, then checks what the issue
// promises: the audit log verifies (a torn last line, a write the crash cut short, is the only thing allowed), every
// call an agent saw succeed has both its decision and its result record, and a gateway restarted on the same log
// carries on.
func TestKillUnderLoad(t *testing.T) {
	if opts := os.Getenv(childEnv); opts != "" {
		runChild(t, opts)
		return
	}
	if testing.Short() {
		t.Skip("starts processes and a real MCP server")
	}
	server := mcptest.StartEverything(t)
	dir := t.TempDir()
	policyFile, tokens := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "tokens")
	if err := os.WriteFile(policyFile, []byte(fmt.Sprintf(loadPolicy, server.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokens, []byte(devToken+" load/agent\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := gateway.RunOptions{PolicyFile: policyFile, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		AuditLog: filepath.Join(dir, "audit.jsonl"), ApprovalDir: filepath.Join(dir, "approvals"), Auth: "static", TokensFile: tokens,
		AdminTokensFile: filepath.Join(dir, "approvers"), CreateAdminTokens: true, AdminName: "alice"}

	child, addr := startChild(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var succeeded []string // arguments digests of calls the agents saw succeed
	var connectErrs []error
	enough := make(chan struct{}) // closed once the agents have seen enough calls succeed to mean something
	var enoughOnce sync.Once
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := mcp.NewClient(&mcp.Implementation{Name: "load", Version: "v1"}, nil)
			s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp/tools", HTTPClient: clientTo(addr, devToken), MaxRetries: -1}, nil)
			if err != nil {
				mu.Lock()
				connectErrs = append(connectErrs, err)
				mu.Unlock()
				return
			}
			defer s.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				msg := fmt.Sprintf("m-%d-%d", g, i)
				res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": msg}})
				if err != nil {
					return // the gateway is gone
				}
				if !res.IsError {
					mu.Lock()
					succeeded = append(succeeded, digest(`{"message":"`+msg+`"}`))
					if len(succeeded) >= minCallsBeforeKill {
						enoughOnce.Do(func() { close(enough) })
					}
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once the load means something, not after a fixed time: on a busy machine the agents may need seconds
	// to connect. A little more load after the threshold keeps calls in flight at the kill.
	select {
	case <-enough:
		time.Sleep(200 * time.Millisecond)
	case <-time.After(time.Minute):
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	close(stop)
	wg.Wait()
	if len(succeeded) < minCallsBeforeKill {
		t.Fatalf("only %d calls succeeded in a minute before the kill (connect errors: %v): too little load to mean anything", len(succeeded), connectErrs)
	}

	sum, err := audit.VerifyFile(opts.AuditLog)
	if err != nil && !errors.Is(err, audit.ErrTornTail) {
		t.Fatalf("after SIGKILL the audit log does not verify: %v", err)
	}
	allowed, results := recordsByDigest(t, opts.AuditLog)
	missing := 0
	for _, d := range succeeded {
		if !allowed[d] || !results[d] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d calls the agents saw succeed have no decision or result record", missing, len(succeeded))
	}
	t.Logf("killed under load after %d successful calls; the log verifies with %d records (torn tail: %d bytes)", len(succeeded), sum.Records, sum.TornBytes)

	// A new gateway resumes the chain on the same log.
	child, addr = startChild(t, opts)
	c := mcp.NewClient(&mcp.Implementation{Name: "after", Version: "v1"}, nil)
	s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp/tools", HTTPClient: clientTo(addr, devToken), MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "after"}}); err != nil {
		t.Errorf("a call after the restart: %v", err)
	}
	s.Close()
	_ = child.Process.Signal(syscall.SIGTERM)
	_ = child.Wait()
	if after, err := audit.VerifyFile(opts.AuditLog); err != nil || after.Records <= sum.Records {
		t.Errorf("after the restart: %v; %d records, before %d", err, after.Records, sum.Records)
	}
}

// digest is how the gateway records arguments: sha256 of their canonical JSON.
func digest(canonical string) string {
	h := sha256.Sum256([]byte(canonical))
	return "sha256:" + hex.EncodeToString(h[:])
}

// recordsByDigest reads the allow decisions and the ok results of a log, by arguments digest.
func recordsByDigest(t *testing.T, path string) (allowed, results map[string]bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	allowed, results = map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<21)
	for sc.Scan() {
		var r audit.Record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue // the torn last line
		}
		switch {
		case r.Event == "decision" && r.Decision == "allow":
			allowed[r.ArgsDigest] = true
		case r.Event == "result" && r.Status == "ok":
			results[r.ArgsDigest] = true
		}
	}
	return allowed, results
}

// startChild runs the gateway in a child process (this test binary) and returns it with its agents' address.
func startChild(t *testing.T, o gateway.RunOptions) (*exec.Cmd, string) {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillUnderLoad$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, a
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway child did not start")
		return nil, ""
	}
}

// runChild is the child process: it serves the gateway until killed.
func runChild(t *testing.T, opts string) {
	var o gateway.RunOptions
	if err := json.Unmarshal([]byte(opts), &o); err != nil {
		t.Fatal(err)
	}
	o.Ready = func(p, _ net.Addr) { fmt.Printf("READY %s\n", p) }
	if err := gateway.Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}
