package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashEnv, when set to a log path, turns TestCrash into the child that appends to it until it is killed.
const crashEnv = "AGOPS_AUDIT_CRASH_CHILD"

// TestCrash runs a child process that appends from 8 goroutines and prints "seq requestID" for each acknowledged
// Append, kills it with SIGKILL mid-stream, and checks that the log verifies (a torn tail allowed) and holds every
// acknowledged record at its seq. Three rounds on the same file also exercise resuming after a crash.
func TestCrash(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(t, path)
		return
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	acked := map[uint64]string{}
	for round := range 3 {
		n := runAndKill(t, path, 300+round*200, acked)
		sum, err := VerifyFile(path)
		if err != nil && !errors.Is(err, ErrTornTail) {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Logf("round %d: %d acknowledged, log has %d records, torn tail %d bytes", round, n, sum.Records, sum.TornBytes)
		checkAcked(t, path, sum.Records, acked)
	}
	l := mustOpen(t, path)
	if err := l.Append(context.Background(), testRecord(1)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := VerifyFile(path); err != nil {
		t.Fatal(err)
	}
}

// runAndKill starts the child, kills it once it has acknowledged at least kill records, and adds every
// acknowledgement it printed to acked. It returns how many it printed.
func runAndKill(t *testing.T, path string, kill int, acked map[uint64]string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }() // already dead on the normal path
	n, other := 0, ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		seqText, id, ok := strings.Cut(sc.Text(), " ")
		seq, err := strconv.ParseUint(seqText, 10, 64)
		if !ok || err != nil {
			other += sc.Text() + "\n" // the test framework's own output
			continue
		}
		if prev, dup := acked[seq]; dup {
			t.Fatalf("seq %d acknowledged twice: %s and %s", seq, prev, id)
		}
		acked[seq] = id
		if n++; n == kill {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if n < kill {
		t.Fatalf("child acknowledged %d records before ending (%v):\n%s%s", n, err, other, stderr.String())
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL:\n%s", err, stderr.String())
	}
	return n
}

// checkAcked checks that line seq of the log holds the acknowledged record, for every acknowledged seq.
func checkAcked(t *testing.T, path string, records uint64, acked map[uint64]string) {
	t.Helper()
	ls := lines(readFile(t, path))
	for seq, id := range acked {
		if seq > records {
			t.Fatalf("seq %d (%s) was acknowledged, the log has %d records", seq, id, records)
		}
		var l line
		if err := json.Unmarshal(ls[seq-1], &l); err != nil || l.RequestID != id {
			t.Fatalf("seq %d holds %q (%v), acknowledged as %s", seq, l.RequestID, err, id)
		}
	}
}

// crashChild appends until killed (or a minute has passed), printing each acknowledged seq.
func crashChild(t *testing.T, path string) {
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var out sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("%d-%d-%d", os.Getpid(), g, i)
				seq, err := l.append(ctx, Record{Event: "decision", RequestID: id, Reason: strings.Repeat("x", i%500)})
				if err != nil {
					return
				}
				out.Lock()
				fmt.Fprintf(os.Stdout, "%d %s\n", seq, id) // one write each: the pipe keeps it past SIGKILL
				out.Unlock()
			}
		})
	}
	wg.Wait()
	l.Close()
}
