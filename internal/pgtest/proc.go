package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// account is the unprivileged user the server runs as when the tests run as root: PostgreSQL refuses root.
type account struct {
	name     string
	uid, gid int
}

// runAccount returns nil when the process is not root (the server runs as the current user), else the postgres user
// that Debian's package creates, or nobody.
func runAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 == nil && err2 == nil && uid != 0 {
			return &account{name: name, uid: uid, gid: gid}, nil
		}
	}
	return nil, errors.New("running as root and no postgres or nobody user exists to run PostgreSQL as " +
		"(PostgreSQL refuses to run as root): create one, e.g. useradd --system postgres")
}

// sysProcAttr puts the server in its own process group and, under root, drops to the account.
func (a *account) sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if a != nil {
		attr.Credential = &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid), Groups: []uint32{}}
	}
	return attr
}

// own hands paths to the account (nothing to do when not root).
func (a *account) own(paths ...string) error {
	if a == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, a.uid, a.gid); err != nil {
			return err
		}
	}
	return nil
}

// tempRoot creates the folder that holds the cluster, its socket and its log, owned by the account. An unprivileged
// account must be able to reach it, so a private TMPDIR is passed over for /tmp.
func tempRoot(a *account) (string, error) {
	base := os.TempDir()
	if a != nil && !reachable(base) {
		base = "/tmp"
	}
	sweepStale(base)
	root, err := os.MkdirTemp(base, "agops-pgtest-")
	if err != nil {
		return "", err
	}
	if err := a.own(root); err != nil {
		_ = os.RemoveAll(root)
		return "", fmt.Errorf("handing %s to user %s: %w", root, a.name, err)
	}
	return root, nil
}

// sweepStale removes what earlier test binaries left in base when they died without stopping their server (whose
// parent-death signal then stopped it): folders at least ten minutes old whose postmaster is not running.
func sweepStale(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "agops-pgtest-*"))
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil || time.Since(fi.ModTime()) < 10*time.Minute || postmasterAlive(filepath.Join(dir, "data")) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// postmasterAlive reads the pid in data/postmaster.pid and reports whether that process exists.
func postmasterAlive(data string) bool {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// reachable reports whether others may pass through dir and every folder above it.
func reachable(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// serverEnv is the environment of initdb and postgres: ours without libpq's PG* variables, in the C locale.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "LC_") && !strings.HasPrefix(kv, "LANG") {
			env = append(env, kv)
		}
	}
	return append(env, "LC_ALL=C")
}

// initCluster runs initdb: superuser su whose password is in pwfile, trusted on the socket (which only the account
// can reach), password (SCRAM) on TCP.
func initCluster(ctx context.Context, b binaries, a *account, data, su, pwfile string) error {
	cmd := exec.CommandContext(ctx, b.initdb, "-D", data, "-U", su, "--pwfile="+pwfile, "-A", "trust",
		"--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.SysProcAttr = a.sysProcAttr()
	cmd.Env = serverEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", b.initdb, err, out)
	}
	return nil
}

// process is a running postmaster.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has ended and been reaped
}

// launch starts postgres on 127.0.0.1:port with its socket in sock, writing its log to logFile. Should the test
// binary die without stopping it, the kernel sends the server the parent-death signal where the OS has one.
func launch(b binaries, a *account, data, sock string, port int, logFile string) (*process, error) {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(b.postgres, "-D", data, "-p", strconv.Itoa(port), "-k", sock,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", "fsync=off",
		"-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = serverEnv()
	cmd.SysProcAttr = a.sysProcAttr()
	setParentDeathSignal(cmd.SysProcAttr)
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal follows the thread that started the child, not the process: keep this goroutine
		// on its thread for as long as the server runs.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s: %w", b.postgres, err)
	}
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the postmaster for a fast shutdown, then an immediate one, then kills it; only its own pid is signalled
// (it ends its children itself).
func (p *process) stop() {
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, 15 * time.Second}, {syscall.SIGQUIT, 5 * time.Second}, {syscall.SIGKILL, time.Minute}}
	for _, s := range steps {
		if p.exited() {
			return
		}
		_ = p.cmd.Process.Signal(s.sig)
		select {
		case <-p.done:
			return
		case <-time.After(s.wait):
		}
	}
}

// logTail returns the end of the server's log, for error messages.
func logTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return strings.TrimSpace(string(b))
}
