package devserver

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The test binary stands in for agops-devserver when AGOPS_FAKE_DEVSERVER says how: "serve" prints the ready line
// and waits for "stop" on stdin; "fail" says why on stderr and exits 1.
func TestMain(m *testing.M) {
	switch os.Getenv("AGOPS_FAKE_DEVSERVER") {
	case "serve":
		args := strings.Join(os.Args[1:], " ")
		fmt.Printf("ready fake:%d\n", len(args))
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if sc.Text() == "stop" {
				os.Exit(0)
			}
		}
		os.Exit(3) // stdin ended without "stop"
	case "fail":
		fmt.Fprintln(os.Stderr, "agops-devserver: devserver: the schema is broken")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func fake(t *testing.T, mode string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AGOPS_DEVSERVER", exe)
	t.Setenv("AGOPS_FAKE_DEVSERVER", mode)
}

func TestLaunchAndStop(t *testing.T) {
	fake(t, "serve")
	port, err := FreeBase()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Launch(t.Context(), Options{DBFile: filepath.Join(t.TempDir(), "t.db"), Port: port}, LaunchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.HostPort(), "fake:") {
		t.Errorf("HostPort %q is not what the program said", p.HostPort())
	}
	if err := p.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Error("Exited is open after Stop")
	}
}

func TestLaunchReportsTheProgramsError(t *testing.T) {
	fake(t, "fail")
	port, err := FreeBase()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Launch(t.Context(), Options{DBFile: filepath.Join(t.TempDir(), "t.db"), Port: port}, LaunchOptions{})
	if err == nil || !strings.Contains(err.Error(), "the schema is broken") {
		t.Fatalf("error %v does not say what the program said", err)
	}
}

func TestLaunchErrors(t *testing.T) {
	t.Setenv("AGOPS_DEVSERVER", filepath.Join(t.TempDir(), "missing"))
	port, err := FreeBase()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Launch(t.Context(), Options{DBFile: filepath.Join(t.TempDir(), "t.db"), Port: port}, LaunchOptions{})
	if err == nil || !strings.Contains(err.Error(), "starting the dev server") {
		t.Fatalf("a missing program gave %v", err)
	}
	if _, err := Launch(t.Context(), Options{}, LaunchOptions{}); err == nil {
		t.Error("no error without a DB file")
	}
}

// TestSourceModule: a test binary is built from this checkout, so the dev server can be built from it.
func TestSourceModule(t *testing.T) {
	dir := sourceModule()
	if dir == "" {
		t.Fatal("no source module found")
	}
	if _, err := os.Stat(filepath.Join(dir, "cmd", "agops-devserver", "main.go")); err != nil {
		t.Fatal(err)
	}
}

// TestBuildProgress: a first build says so at once; a build that finds everything current says nothing.
func TestBuildProgress(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	var out strings.Builder
	if err := runBuild(exec.Command(goCmd, "env", "GOVERSION"), true, "agops: building X", &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "agops: building X; the first build takes a few minutes\n") ||
		!strings.Contains(out.String(), "agops: built the dev server in ") {
		t.Errorf("a first build said %q", out.String())
	}
	out.Reset()
	if err := runBuild(exec.Command(goCmd, "env", "GOVERSION"), false, "agops: building X", &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("a current build said %q", out.String())
	}
}
