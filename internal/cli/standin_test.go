package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agops/agops/internal/netutil"
	"github.com/agops/agops/internal/standin"
)

func TestStandInUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"invalid-positional-without-dash", []string{"stand-in", "redis-server"}, exitUsage, `unknown command "redis-server"`},
		{"invalid-listen", []string{"stand-in", "--listen", "80/SCTP", "--once"}, exitUsage, "TCP and UDP"},
		{"invalid-probe", []string{"stand-in", "--probe", "nowhere", "--once"}, exitUsage, `probe "nowhere"`},
		{"invalid-every", []string{"stand-in", "--every", "0s", "--once"}, exitUsage, "--every and --timeout must be positive"},
		{"invalid-check-args", []string{"stand-in", "check", "extra"}, exitUsage, "accepts 0 arg"},
		{"invalid-check-not-running", []string{"stand-in", "check", "--container", "nothing-runs-here"}, exitInput, `the stand-in of container "nothing-runs-here" is not up`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("agops %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.code, tt.want)
			}
		})
	}
}

// TestStandInOnceInProcess: with --once the stand-in does one round and exits 0; a container command named like a
// subcommand ("check") after -- is the container's, not agops's.
func TestStandInOnceInProcess(t *testing.T) {
	r := run(t, "stand-in", "--once", "--listen", "0/TCP", "--container", "once", "--", "check", "http://localhost:1/")
	if r.code != exitOK || strings.Count(r.stdout, standin.LogPrefix) != 1 {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and one report", r.code, r.stdout, r.stderr)
	}
	reps, err := standin.ParseLog(strings.NewReader(r.stdout))
	if err != nil || len(reps) != 1 || len(reps[0].Self) != 1 || reps[0].Self[0].Target != "localhost:1" {
		t.Errorf("reports %+v, %v; want one whose self target is localhost:1 (from the command after --)", reps, err)
	}
}

// standInProc is a stand-in process; the test's end kills it if it still runs.
type standInProc struct {
	cmd  *exec.Cmd
	out  string
	done chan error
}

func startStandIn(t *testing.T, bin, pod string, args ...string) *standInProc {
	t.Helper()
	out := filepath.Join(t.TempDir(), pod+".log")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"stand-in"}, args...)...)
	cmd.Env = []string{asAgops + "=1", "POD_NAME=" + pod, "POD_NAMESPACE=ns"}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &standInProc{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *standInProc) log(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(p.out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitReports waits until the process has written n reports.
func (p *standInProc) waitReports(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(p.log(t), standin.LogPrefix+"{") < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d reports after 30 s, want %d; log:\n%s", strings.Count(p.log(t), standin.LogPrefix+"{"), n, p.log(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and wants exit 0 within 5 s.
func (p *standInProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit 0; log:\n%s", err, p.log(t))
		}
	case <-time.After(5 * time.Second):
		t.Errorf("still running 5 s after SIGTERM")
	}
}

// TestStandInProcesses runs stand-ins as real processes (this test binary as agops) on loopback: b dials a (TCP and UDP), a closed port, and
// its own configuration's address; `stand-in check` sees a up; --once exits 0; SIGTERM ends them with 0.
func TestStandInProcesses(t *testing.T) {
	t.Parallel()
	bin := agopsProcess(t)
	ports, err := netutil.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	pa, pb, closed := ports[0], ports[1], ports[2]
	a := startStandIn(t, bin, "a-0", "--listen", fmt.Sprintf("%d/TCP,%d/UDP", pa, pa), "--workload", "ns/a", "--container", "a")
	b := startStandIn(t, bin, "b-0", "--listen", fmt.Sprintf("%d", pb), "--workload", "ns/b", "--container", "b", "--every", "200ms",
		"--timeout", "500ms", "--probe", fmt.Sprintf("ns/a=127.0.0.1:%d/TCP,ns/a=127.0.0.1:%d/UDP,ns/closed=127.0.0.1:%d/TCP", pa, pa, closed),
		"--", "serve", "--db", fmt.Sprintf("postgres://app:hunter2@localhost:%d/app", pb))
	a.waitReports(t, 1)
	b.waitReports(t, 3)

	check := func(pod, container string) error {
		cmd := exec.Command(bin, "stand-in", "check", "--container", container)
		cmd.Env = []string{asAgops + "=1", "POD_NAME=" + pod, "POD_NAMESPACE=ns"}
		return cmd.Run()
	}
	if err := check("a-0", "a"); err != nil {
		t.Errorf("stand-in check of a: %v", err)
	}
	var exit *exec.ExitError
	if err := check("a-0", "b"); !errors.As(err, &exit) || exit.ExitCode() != exitInput {
		t.Errorf("stand-in check of a container that is not a's: %v, want exit %d", err, exitInput)
	}

	once := startStandIn(t, bin, "job-0", "--once", "--workload", "ns/job", "--container", "job", "--probe", fmt.Sprintf("ns/b=127.0.0.1:%d/TCP", pb))
	select {
	case err := <-once.done:
		if err != nil {
			t.Errorf("--once: %v, want exit 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("--once still runs after 10 s")
	}
	b.stop(t)
	a.stop(t)

	if log := b.log(t); strings.Contains(log, "hunter2") {
		t.Errorf("b's log holds the password:\n%s", log)
	}
	reps, err := standin.ParseLog(strings.NewReader(b.log(t) + once.log(t)))
	if err != nil || len(reps) != 2 {
		t.Fatalf("ParseLog = %+v, %v; want the reports of b and the job", reps, err)
	}
	got := map[string]string{}
	for _, r := range reps {
		for _, res := range append(r.Results, r.Self...) {
			got[fmt.Sprintf("%s -> %s %s/%s", r.Workload, res.Workload, res.Target, res.Protocol)] = fmt.Sprint(res.OK, " ", res.Error)
		}
	}
	want := map[string]string{
		fmt.Sprintf("ns/b -> ns/a 127.0.0.1:%d/TCP", pa):          "true ",
		fmt.Sprintf("ns/b -> ns/a 127.0.0.1:%d/UDP", pa):          "true ",
		fmt.Sprintf("ns/b -> ns/closed 127.0.0.1:%d/TCP", closed): "false refused",
		fmt.Sprintf("ns/b ->  localhost:%d/TCP", pb):              "true ",
		fmt.Sprintf("ns/job -> ns/b 127.0.0.1:%d/TCP", pb):        "true ",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("results:\n got %v\nwant %v", got, want)
	}
	m := standin.Measure(reps, 1)
	if len(m.Pairs) != 4 || m.Pairs[0].From != "ns/b" || m.Pairs[0].State != standin.Open || m.Pairs[2].State != standin.Closed {
		t.Errorf("Measure = %+v", m.Pairs)
	}
}
