package mcptest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
)

// Call is one tools/call a test server executed: the tool it ran, the arguments as the server parsed them
// (re-encoded as JSON after the SDK's decoding and schema validation), and the request's Content-Type and
// X-Agops-Agent headers as the tool saw them (Node.js joins repeated headers with ", ", Go takes the first).
type Call struct {
	Tool        string          `json:"tool"`
	Arguments   json.RawMessage `json:"arguments"`
	ContentType string          `json:"contentType"`
	Agent       string          `json:"agent,omitempty"`
}

// Recorder is a server that records the tools/calls it executes.
type Recorder interface {
	// Calls returns the calls executed so far, oldest first.
	Calls() ([]Call, error)
}

// maxCallLine bounds one recorded call, so a broken file cannot make the reader grow without limit.
const maxCallLine = 1 << 20

// ParseCalls reads recorded calls, one JSON object a line; blank lines are skipped.
func ParseCalls(r io.Reader) ([]Call, error) {
	var calls []Call
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxCallLine)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var c Call
		if err := json.Unmarshal(line, &c); err != nil {
			return nil, fmt.Errorf("recorded call on line %d: %w", n, err)
		}
		calls = append(calls, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading recorded calls: %w", err)
	}
	return calls, nil
}

// fileCalls reads the calls a server appended to path; a missing file means none yet.
func fileCalls(path string) ([]Call, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening recorded calls: %w", err)
	}
	defer f.Close()
	return ParseCalls(f)
}

// callLog records calls in memory for the in-process server.
type callLog struct {
	mu    sync.Mutex
	calls []Call
}

func (l *callLog) add(tool string, args any, contentType, agent string) {
	raw, err := json.Marshal(args)
	if err != nil {
		raw, _ = json.Marshal(err.Error())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, Call{Tool: tool, Arguments: raw, ContentType: contentType, Agent: agent})
}

// Calls returns a copy of the recorded calls.
func (l *callLog) Calls() ([]Call, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.calls...), nil
}
