package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// AdminClient talks to a gateway's admin listener: it lists the calls held for approval and decides them, and reads
// what a replica knows of an idempotency key or holds for an approval key, and spends a replica's approval. It is
// what `agops approve` uses, and what replicas use to reach each other.
type AdminClient struct {
	BaseURL string       // for example http://127.0.0.1:9090
	HTTP    *http.Client // nil: a client with a 30 s timeout
	Token   string       // bearer token, when the gateway authenticates approvers
	// OnBehalfOf is the person a console decides for (X-Agops-Approver): set it, on a console's client (Token of a
	// ConsolePrefix identity), to the signed-in person; empty for a human's own client.
	OnBehalfOf string

	header http.Header // extra headers (a replica marks forwarded requests)
}

// Pending returns the calls waiting for approval, on every replica the gateway knows, oldest first per replica.
func (c *AdminClient) Pending(ctx context.Context) ([]Approval, error) {
	var out []Approval
	if err := c.do(ctx, http.MethodGet, "/approvals", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Decide approves (or rejects) held call id in the name of by, and returns the approval as decided.
func (c *AdminClient) Decide(ctx context.Context, id string, approve bool, by string) (Approval, error) {
	return c.decide(ctx, id, map[string]any{"approve": approve, "by": by})
}

// DecideWithReason approves (or rejects) held call id in the name of the caller (OnBehalfOf for a console), with
// the reason the person gave, which the audit keeps.
func (c *AdminClient) DecideWithReason(ctx context.Context, id string, approve bool, reason string) (Approval, error) {
	return c.decide(ctx, id, map[string]any{"approve": approve, "reason": reason})
}

func (c *AdminClient) decide(ctx context.Context, id string, fields map[string]any) (Approval, error) {
	var a Approval
	body, _ := json.Marshal(fields)
	if id == "" || strings.ContainsAny(id, "/?#") {
		return a, fmt.Errorf("gateway: %q is not an approval ID", id)
	}
	err := c.do(ctx, http.MethodPost, "/approvals/"+id, body, &a)
	return a, err
}

// Key returns what the replica at BaseURL knows of one idempotency key, from its own store only (it never asks its
// peers). name is the name of the key's entry: the lowercase hex SHA-256 of agent, server and key, each followed by a
// zero byte; the admin API never sees a key itself.
func (c *AdminClient) Key(ctx context.Context, name string) (KeyState, error) {
	var st KeyState
	if !isKeyName(name) {
		return st, fmt.Errorf("gateway: %q is not an idempotency key name", name)
	}
	if err := c.do(ctx, http.MethodGet, "/keys/"+name, nil, &st); err != nil {
		return KeyState{}, err
	}
	if !validKeyState(st.State) {
		return KeyState{}, fmt.Errorf("gateway answered /keys/%s with the unknown state %q", name, st.State)
	}
	return st, nil
}

// ApprovalByKey returns the approval the replica at BaseURL holds for an approval key ("sha256:<hex>", as
// Approval.Key shows it), from its own store only (it never asks its peers): the one an identical call would use
// (approved and still valid, else pending) or be told about (rejected or expired less than ApprovalValidity ago).
// found is false when it holds none.
func (c *AdminClient) ApprovalByKey(ctx context.Context, key string) (a Approval, found bool, err error) {
	if !isApprovalKey(key) {
		return a, false, fmt.Errorf("gateway: %q is not an approval key", key)
	}
	if err := c.do(ctx, http.MethodGet, "/approvals/by-key/"+key, nil, &a); err != nil {
		return Approval{}, false, err
	}
	if a.State == approvalNone {
		return Approval{}, false, nil
	}
	if !heldState(a.State) || !isGatewayID(a.ID, "ap_") || a.Key != key {
		return Approval{}, false, fmt.Errorf("gateway answered /approvals/by-key/%s with approval %q of key %q in state %q",
			key, a.ID, a.Key, a.State)
	}
	return a, true, nil
}

// UseApproval spends approved approval id, held by the replica at BaseURL, on the call requestID (the gateway's ID of
// a call on another replica): approved becomes used, once. u.Spent is false, and u.Approval.State says why, when the
// approval is not approved (pending, rejected, expired, or used already); an approval the replica does not hold is
// an *AdminError with Status 404.
func (c *AdminClient) UseApproval(ctx context.Context, id, requestID string) (u ApprovalUse, err error) {
	if !isGatewayID(id, "ap_") || !isGatewayID(requestID, "rq_") {
		return u, fmt.Errorf("gateway: %q is not an approval ID or %q not a request ID", id, requestID)
	}
	body, _ := json.Marshal(map[string]string{"requestId": requestID})
	err = c.do(ctx, http.MethodPost, "/approvals/"+id+"/use", body, &u)
	var ae *AdminError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		u, err = ApprovalUse{}, nil
		if json.Unmarshal(ae.body, &u) != nil || u.Spent {
			err = ae
		}
	}
	if err == nil && !validUse(u, id, requestID) {
		err = fmt.Errorf("gateway answered /approvals/%s/use with approval %q in state %q (spent: %t)", id,
			u.Approval.ID, u.Approval.State, u.Spent)
	}
	if err != nil {
		return ApprovalUse{}, err
	}
	return u, nil
}

// AdminError is a refusal from the admin API: its HTTP status and message.
type AdminError struct {
	Status  int
	Message string

	body []byte // the answer as it came
}

func (e *AdminError) Error() string {
	return fmt.Sprintf("gateway: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// stream GETs path and copies a successful answer's body to w.
func (c *AdminClient) stream(ctx context.Context, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.BaseURL, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("gateway admin address %q: %w", c.BaseURL, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reaching the gateway: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
		}
		return &AdminError{Status: resp.StatusCode, Message: e.Error, body: raw}
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

func (c *AdminClient) do(ctx context.Context, method, path string, body []byte, into any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("gateway admin address %q: %w", c.BaseURL, err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.OnBehalfOf != "" {
		req.Header.Set(approverHeader, c.OnBehalfOf)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reaching the gateway: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("reading the gateway's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
		}
		return &AdminError{Status: resp.StatusCode, Message: e.Error, body: raw}
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("gateway answered %s with something else than JSON: %w", path, err)
	}
	return nil
}
