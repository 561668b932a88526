package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	opts := killOptions(t, mcptest.StartEverything(t).URL)
	child, addr := startChild(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	load := killUnderLoad(ctx, t, child, addr, false)
	var succeeded []string // arguments digests of calls the agents saw succeed
	for _, msg := range load.succeeded {
		succeeded = append(succeeded, digest(`{"message":"`+msg+`"}`))
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

// killOptions returns the options of a gateway in front of the MCP server at url, with its files in a new folder.
func killOptions(t *testing.T, url string) gateway.RunOptions {
	t.Helper()
	dir := t.TempDir()
	policyFile, tokens := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "tokens")
	if err := os.WriteFile(policyFile, []byte(fmt.Sprintf(loadPolicy, url)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokens, []byte(devToken+" load/agent\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := gateway.RunOptions{PolicyFile: policyFile, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		AuditLog: filepath.Join(dir, "audit.jsonl"), ApprovalDir: filepath.Join(dir, "approvals"), Auth: "static", TokensFile: tokens,
		AdminTokensFile: filepath.Join(dir, "approvers"), CreateAdminTokens: true, AdminName: "alice"}
	return opts
}

// killed is what the agents saw before the gateway was killed: the messages of the calls that succeeded, and of every
// call sent.
type killed struct{ succeeded, sent []string }

// killUnderLoad runs 8 agents calling echo through the gateway at addr, each call with its own message (and, keyed,
// an Idempotency-Key named after it), and kills the gateway with SIGKILL once enough calls succeeded.
func killUnderLoad(ctx context.Context, t *testing.T, child *exec.Cmd, addr string, keyed bool) killed {
	t.Helper()
	var mu sync.Mutex
	var k killed
	var connectErrs []error
	enough := make(chan struct{}) // closed once the agents have seen enough calls succeed to mean something
	var enoughOnce sync.Once
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			hc := clientTo(addr, devToken)
			if keyed {
				hc.Transport = keyPerMessage{base: hc.Transport}
			}
			c := mcp.NewClient(&mcp.Implementation{Name: "load", Version: "v1"}, nil)
			s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp/tools", HTTPClient: hc, MaxRetries: -1}, nil)
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
				mu.Lock()
				k.sent = append(k.sent, msg)
				mu.Unlock()
				res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": msg}})
				if err != nil {
					return // the gateway is gone
				}
				if !res.IsError {
					mu.Lock()
					k.succeeded = append(k.succeeded, msg)
					if len(k.succeeded) >= minCallsBeforeKill {
						enoughOnce.Do(func() { close(enough) })
					}
					mu.Unlock()
				}
			}
		})
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
	if len(k.succeeded) < minCallsBeforeKill {
		t.Fatalf("only %d calls succeeded in a minute before the kill (connect errors: %v): too little load to mean anything", len(k.succeeded), connectErrs)
	}
	return k
}

// keyPerMessage sends each tools/call with the Idempotency-Key "key-" + its message argument.
type keyPerMessage struct{ base http.RoundTripper }

var messageArg = regexp.MustCompile(`"method":"tools/call".*"message":"([^"]+)"`)

func (k keyPerMessage) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Method != http.MethodPost {
		return k.base.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	if m := messageArg.FindSubmatch(body); m != nil {
		r.Header.Set(gateway.HeaderIdempotencyKey, "key-"+string(m[1]))
	}
	return k.base.RoundTrip(r)
}

// TestKillUnderLoadKeyed kills the gateway with SIGKILL while agents send every call with its own Idempotency-Key,
// then takes from the key store every entry file, as a power loss could (the files are not fsync'ed; the store's
// journal is), restarts the gateway and retries every call that was sent: a call the agents saw succeed is given its
// recorded answer, and the tool server ran no call twice — the ones the kill cut short are refused as of unknown
// outcome or were never forwarded.
func TestKillUnderLoadKeyed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and a real MCP server")
	}
	server := mcptest.StartGoServer(t) // the Go SDK's server, in this process: it counts what it runs
	opts := killOptions(t, server.URL)
	child, addr := startChild(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	load := killUnderLoad(ctx, t, child, addr, true)
	keyDir := opts.AuditLog + ".keys"
	files, _ := filepath.Glob(filepath.Join(keyDir, "*.json"))
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := os.Stat(filepath.Join(keyDir, "journal")); err != nil || st.Size() == 0 {
		t.Fatalf("the key store's journal: %v %v", st, err)
	}

	child, addr = startChild(t, opts)
	defer func() { _ = child.Process.Signal(syscall.SIGTERM); _ = child.Wait() }()
	hc := clientTo(addr, devToken)
	hc.Transport = keyPerMessage{base: hc.Transport}
	c := mcp.NewClient(&mcp.Implementation{Name: "retry", Version: "v1"}, nil)
	s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp/tools", HTTPClient: hc, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	succeeded := map[string]bool{}
	for _, msg := range load.succeeded {
		succeeded[msg] = true
	}
	replayed, unknown := 0, 0
	for _, msg := range load.sent {
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": msg}})
		switch {
		case err != nil && succeeded[msg]:
			t.Errorf("retry of %s, which succeeded before the kill: %v", msg, err)
			continue
		case err != nil && strings.Contains(err.Error(), gateway.RuleIdempotencyUnknown):
			unknown++
			continue
		case err != nil:
			t.Fatalf("retry of %s: %v", msg, err)
		}
		text := ""
		if len(res.Content) > 0 {
			if tc, ok := res.Content[0].(*mcp.TextContent); ok {
				text = tc.Text
			}
		}
		switch {
		case !res.IsError && strings.Contains(text, msg):
			replayed++
		case succeeded[msg]:
			t.Errorf("retry of %s, which succeeded before the kill: %v %q", msg, res.IsError, text)
		}
	}
	// At most once: the tool ran each message once or never. (The audit log may show a key allowed twice: a decision
	// recorded, then the kill before the key's started entry was durable, so that call was never forwarded.)
	calls, err := server.Calls()
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]int{}
	for _, c := range calls {
		var in struct{ Message string }
		if json.Unmarshal(c.Arguments, &in) == nil {
			ran[in.Message]++
		}
	}
	for msg, n := range ran {
		if n > 1 {
			t.Errorf("echo ran %d times for %s", n, msg)
		}
	}
	replays := 0
	forEachRecord(t, opts.AuditLog, func(r audit.Record) {
		if r.Event == "decision" && r.Decision == "replay" {
			replays++
		}
	})
	if replays < len(load.succeeded) {
		t.Errorf("%d replays recorded, for %d calls that had succeeded", replays, len(load.succeeded))
	}
	t.Logf("%d calls sent, %d succeeded before the kill; after losing %d key files and restarting, %d retries were given their recorded answer and %d refused as of unknown outcome", len(load.sent), len(load.succeeded), len(files), replayed, unknown)
}

// digest is how the gateway records arguments: sha256 of their canonical JSON.
func digest(canonical string) string {
	h := sha256.Sum256([]byte(canonical))
	return "sha256:" + hex.EncodeToString(h[:])
}

// recordsByDigest reads the allow decisions and the ok results of a log, by arguments digest.
func recordsByDigest(t *testing.T, path string) (allowed, results map[string]bool) {
	t.Helper()
	allowed, results = map[string]bool{}, map[string]bool{}
	forEachRecord(t, path, func(r audit.Record) {
		switch {
		case r.Event == "decision" && r.Decision == "allow":
			allowed[r.ArgsDigest] = true
		case r.Event == "result" && r.Status == "ok":
			results[r.ArgsDigest] = true
		}
	})
	return allowed, results
}

// forEachRecord calls fn with each whole record of the log at path.
func forEachRecord(t *testing.T, path string, fn func(audit.Record)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<21)
	for sc.Scan() {
		var r audit.Record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue // the torn last line
		}
		fn(r)
	}
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
