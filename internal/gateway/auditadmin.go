package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/agops/agops/internal/audit"
)

// The admin listener serves this replica's own audit log, read only, to people and consoles (an operator console
// in the cluster reads each replica's log this way): GET /audit/records (a page of a query, or one call's records),
// GET /audit/export (a time range with its proof). Each replica has its own log and its own chain.

// AuditChain is the state of a log's chain, as a page shows it.
type AuditChain struct {
	Lines   uint64 `json:"lines"`
	Records uint64 `json:"records"` // records 1 to Records verify
	Head    string `json:"head"`
	// Broken is the first problem, "" when every line read verifies; BrokenLine its line (0 when not one line's).
	Broken     string `json:"broken,omitempty"`
	BrokenLine int    `json:"brokenLine,omitempty"`
	// Checkpoint is the size of the latest signed checkpoint the log matched (0: none); Uncovered the verified
	// records after it.
	Checkpoint    uint64 `json:"checkpoint,omitempty"`
	Uncovered     uint64 `json:"uncovered,omitempty"`
	CheckpointErr string `json:"checkpointError,omitempty"`
}

// ChainOf summarizes what an audit.Reader verified.
func ChainOf(v audit.Verified) AuditChain {
	c := AuditChain{Lines: v.Lines, Records: v.Records, Head: v.Head, Uncovered: v.Uncovered}
	if v.Broken != nil {
		c.Broken, c.BrokenLine = v.Broken.Error(), v.Broken.Line
	}
	if v.Checkpoint != nil {
		c.Checkpoint = v.Checkpoint.Size
	}
	if v.CheckpointErr != nil {
		c.CheckpointErr = v.CheckpointErr.Error()
	}
	return c
}

// AuditPage is the answer to an audit query.
type AuditPage struct {
	Entries []audit.Entry `json:"entries"`
	Total   int           `json:"total"`
	Next    uint64        `json:"next,omitempty"`
	Chain   AuditChain    `json:"chain"`
}

// PageOf converts a Reader's page.
func PageOf(p audit.Page) AuditPage {
	return AuditPage{Entries: p.Entries, Total: p.Total, Next: p.Next, Chain: ChainOf(p.Verified)}
}

// auditReader opens the gateway's log for reading once, when first asked.
type auditReader struct {
	path, checkpoint string
	verifier         note.Verifier

	mu sync.Mutex
	r  *audit.Reader
}

func (a *auditReader) get() (*audit.Reader, error) {
	if a == nil || a.path == "" {
		return nil, errors.New("this gateway serves no audit log")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.r == nil {
		var opts []audit.ReaderOption
		if a.checkpoint != "" {
			opts = append(opts, audit.WithCheckpointFile(a.checkpoint))
		}
		r, err := audit.OpenReader(a.path, a.verifier, opts...)
		if err != nil {
			return nil, err
		}
		a.r = r
	}
	return a.r, nil
}

// AuditQueryValues writes q as the query string of GET /audit/records.
func AuditQueryValues(q audit.Query) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"agent": q.Caller, "server": q.Server, "tool": q.Tool, "decision": q.Decision,
		"event": q.Event, "rule": q.Rule, "request": q.RequestID} {
		if s != "" {
			v.Set(k, s)
		}
	}
	for k, t := range map[string]time.Time{"since": q.Since, "until": q.Until} {
		if !t.IsZero() {
			v.Set(k, t.UTC().Format(time.RFC3339Nano))
		}
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatUint(q.Before, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// ParseAuditQuery reads GET /audit/records's query string; every problem is reported at once.
func ParseAuditQuery(v url.Values) (audit.Query, error) {
	q := audit.Query{Caller: v.Get("agent"), Server: v.Get("server"), Tool: v.Get("tool"), Decision: v.Get("decision"),
		Event: v.Get("event"), Rule: v.Get("rule"), RequestID: v.Get("request")}
	var errs []error
	for k, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if s := v.Get(k); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: want an RFC 3339 time", k))
			}
			*dst = t
		}
	}
	if s := v.Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			errs = append(errs, errors.New("before: want a line number"))
		}
		q.Before = n
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > audit.MaxLimit {
			errs = append(errs, fmt.Errorf("limit: want 1 to %d", audit.MaxLimit))
		}
		q.Limit = n
	}
	return q, errors.Join(errs...)
}

// auditRequest authenticates an audit read, parses its query and opens the log; on false it has answered.
func (g *Gateway) auditRequest(w http.ResponseWriter, r *http.Request) (audit.Query, *audit.Reader, bool) {
	if _, ok := g.admin(w, r, humansAndPeers); !ok {
		return audit.Query{}, nil, false
	}
	q, err := ParseAuditQuery(r.URL.Query())
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return q, nil, false
	}
	rd, err := g.auditReader.get()
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, err.Error())
		return q, nil, false
	}
	return q, rd, true
}

// serveAuditRecords serves GET /audit/records: with request=ID one call's records, else a page of the query.
func (g *Gateway) serveAuditRecords(w http.ResponseWriter, r *http.Request) {
	q, rd, ok := g.auditRequest(w, r)
	if !ok {
		return
	}
	var p audit.Page
	var err error
	if q.RequestID != "" && r.URL.Query().Get("call") == "1" {
		p, err = rd.Request(q.RequestID)
	} else {
		p, err = rd.Query(q)
	}
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "reading the audit log: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, PageOf(p))
}

// serveAuditExport serves GET /audit/export?since=&until=: the records between the times that a signed
// checkpoint covers, in audit.Export's format.
func (g *Gateway) serveAuditExport(w http.ResponseWriter, r *http.Request) {
	q, rd, ok := g.auditRequest(w, r)
	if !ok {
		return
	}
	from, to, err := ExportRange(rd, q.Since, q.Until)
	if err != nil {
		writeJSONError(w, http.StatusConflict, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/jsonl")
	_ = rd.Export(w, from, to)
}

// ExportRange returns the seqs to export for records between since and until: those a signed checkpoint covers.
func ExportRange(rd *audit.Reader, since, until time.Time) (from, to uint64, err error) {
	if err := rd.Refresh(); err != nil {
		return 0, 0, err
	}
	ver := rd.Verified()
	if ver.Checkpoint == nil {
		return 0, 0, errors.New("no signed checkpoint matches the log yet: nothing can be exported with a proof")
	}
	from, to, ok := rd.SeqRange(since, until)
	to = min(to, ver.Checkpoint.Size)
	if !ok || from > to {
		return 0, 0, errors.New("no record covered by a signed checkpoint lies between those times")
	}
	return from, to, nil
}

// AuditPage asks the replica at BaseURL for a page of its audit log.
func (c *AdminClient) AuditPage(ctx context.Context, q audit.Query) (AuditPage, error) {
	var p AuditPage
	err := c.do(ctx, http.MethodGet, "/audit/records?"+AuditQueryValues(q).Encode(), nil, &p)
	return p, err
}

// AuditCall asks the replica at BaseURL for one call's records, in file order.
func (c *AdminClient) AuditCall(ctx context.Context, requestID string) (AuditPage, error) {
	var p AuditPage
	v := url.Values{"request": {requestID}, "call": {"1"}}
	err := c.do(ctx, http.MethodGet, "/audit/records?"+v.Encode(), nil, &p)
	return p, err
}

// AuditExport copies the replica's export of the records between since and until, with their proof, to w.
func (c *AdminClient) AuditExport(ctx context.Context, w io.Writer, since, until time.Time) error {
	q := AuditQueryValues(audit.Query{Since: since, Until: until})
	return c.stream(ctx, "/audit/export?"+q.Encode(), w)
}
