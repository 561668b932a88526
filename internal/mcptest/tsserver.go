package mcptest

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/agops/agops/internal/netutil"
)

// tsServerProgram is the TypeScript SDK server, an ESM program run by node from the install folder (so that its
// imports resolve against the pinned packages there).
//
//go:embed tsserver.mjs
var tsServerProgram []byte

// TSServer is the TypeScript SDK test server: a node process serving Streamable HTTP on loopback.
type TSServer struct {
	*Server
	callsFile string
}

// Calls returns the tools/calls the server executed, oldest first, as it appended them to its calls file.
func (s *TSServer) Calls() ([]Call, error) { return fileCalls(s.callsFile) }

// StartTSServer installs (once) the pinned packages and starts the TypeScript SDK server on a free loopback port;
// it is stopped when the test ends.
func StartTSServer(t testing.TB) *TSServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := Install(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := StartTS(dir, filepath.Join(t.TempDir(), "calls.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartTS starts the TypeScript SDK server from an installed folder on a free loopback port, recording executed
// calls to callsFile, and waits until it listens.
func StartTS(dir Dir, callsFile string) (*TSServer, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("finding node: %w", err)
	}
	prog, err := writeTSProgram(dir)
	if err != nil {
		return nil, err
	}
	port, err := netutil.FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(node, prog)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "AGOPS_MCP_CALLS="+callsFile)
	s, err := startProcess(cmd, port, "the TypeScript SDK server", "listening on port")
	if err != nil {
		return nil, err
	}
	return &TSServer{Server: s, callsFile: callsFile}, nil
}

// writeTSProgram writes the server program into the install folder under a name that carries its hash, so that
// concurrent tests and older versions never see a half-written or stale file.
func writeTSProgram(dir Dir) (string, error) {
	sum := sha256.Sum256(tsServerProgram)
	path := filepath.Join(string(dir), "agops-ts-server-"+hex.EncodeToString(sum[:])[:12]+".mjs")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp, err := os.CreateTemp(string(dir), ".agops-ts-server-*")
	if err != nil {
		return "", fmt.Errorf("writing the TypeScript SDK server: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(tsServerProgram); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing the TypeScript SDK server: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("writing the TypeScript SDK server: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("writing the TypeScript SDK server: %w", err)
	}
	return path, nil
}
