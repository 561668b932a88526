package gateway

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// message processes one JSON-RPC message (or an array of them) from an upstream and returns the bytes to send:
// data itself when nothing changed, nil to drop it.
func (rl *relay) message(data []byte) []byte {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || rl.callID == nil && !mayListTools(trimmed) && !(rl.onStray != nil && mayReportTokens(trimmed)) {
		return data
	}
	if trimmed[0] != '[' {
		out, changed := rl.one(trimmed)
		if !changed {
			return data
		}
		return out
	}
	var msgs []json.RawMessage
	if json.Unmarshal(trimmed, &msgs) != nil {
		return nil
	}
	changed := false
	kept := msgs[:0]
	for _, m := range msgs {
		out, ch := rl.one(m)
		changed = changed || ch
		if out != nil {
			kept = append(kept, out)
		}
	}
	if !changed {
		return data
	}
	return marshal(kept)
}

// mayReportTokens is a quick test that data could report token usage ("totalTokens", "total_tokens"), or spell it
// with an escape.
func mayReportTokens(data []byte) bool {
	return bytes.Contains(data, []byte("otal")) || bytes.Contains(data, []byte("OTAL")) || bytes.Contains(data, []byte(`\u`))
}

// mayListTools is a quick test that data could hold a tool list: "tool" in any ASCII case, or an escape that could
// spell it. Anything else needs no parsing.
func mayListTools(data []byte) bool {
	if bytes.Contains(data, []byte(`\u`)) {
		return true
	}
	for i := 0; i+4 <= len(data); i++ {
		if data[i]|0x20 == 't' && data[i+1]|0x20 == 'o' && data[i+2]|0x20 == 'o' && data[i+3]|0x20 == 'l' {
			return true
		}
	}
	return false
}

// one processes one message: it notes the judged call's result and filters result.tools. A message carrying tools
// is always re-encoded, so duplicate or case-variant keys cannot smuggle an unfiltered list past the filter.
func (rl *relay) one(msg []byte) ([]byte, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(msg, &top) != nil {
		return nil, true // unreadable: it might carry tools, and no client can use it anyway
	}
	result := rl.callID != nil && !rl.found && idEqual(top["id"], rl.callID)
	if result {
		rl.found = true
		rl.out = inspectResult(top)
	} else if _, ok := top["result"]; ok && rl.onStray != nil {
		if o := inspectResult(top); o.tokens > 0 {
			rl.onStray(o.tokens)
		}
	}
	out, changed := rl.filter(msg, top)
	if result && rl.onResult != nil {
		rl.onResult(rl.out, out)
	}
	return out, changed
}

// filter drops the tools the caller may not see from result.tools of msg (decoded in top).
func (rl *relay) filter(msg []byte, top map[string]json.RawMessage) ([]byte, bool) {
	if !mayListTools(msg) {
		return msg, false
	}
	changed := dropVariants(top, "result")
	res, ok := top["result"]
	if !ok || len(res) == 0 || res[0] != '{' {
		return reencode(msg, top, changed)
	}
	var result map[string]json.RawMessage
	if json.Unmarshal(res, &result) != nil {
		return reencode(msg, top, changed)
	}
	hasTools := dropVariants(result, "tools")
	if tools, ok := result["tools"]; ok {
		result["tools"] = rl.filterTools(tools)
		hasTools = true
	}
	if !hasTools {
		return reencode(msg, top, changed)
	}
	top["result"] = marshal(result)
	return marshal(top), true
}

func reencode(msg []byte, top map[string]json.RawMessage, changed bool) ([]byte, bool) {
	if !changed {
		return msg, false
	}
	return marshal(top), true
}

// dropVariants deletes the keys of m equal to key under case folding but not equal to it, and reports whether any
// went.
func dropVariants(m map[string]json.RawMessage, key string) bool {
	dropped := false
	want := foldKey(key)
	for k := range m {
		if k != key && foldKey(k) == want {
			delete(m, k)
			dropped = true
		}
	}
	return dropped
}

// filterTools keeps the tools the caller may call; a tool that cannot be read is dropped.
func (rl *relay) filterTools(raw json.RawMessage) json.RawMessage {
	var tools []json.RawMessage
	if json.Unmarshal(raw, &tools) != nil {
		return json.RawMessage("[]")
	}
	kept := []json.RawMessage{}
	for _, t := range tools {
		var tm map[string]json.RawMessage
		var name string
		if json.Unmarshal(t, &tm) != nil || dropVariants(tm, "name") || json.Unmarshal(tm["name"], &name) != nil {
			continue
		}
		if rl.allowed(name) {
			kept = append(kept, t)
		}
	}
	return marshal(kept)
}

// inspectResult reads the status and the token usage of a tools/call response. Tokens follow the convention
// result._meta.usage.totalTokens, else result.usage.total_tokens; absent or unreadable means zero.
func inspectResult(top map[string]json.RawMessage) outcome {
	if _, failed := top["error"]; failed {
		return outcome{status: "error"}
	}
	var result map[string]json.RawMessage
	if json.Unmarshal(top["result"], &result) != nil {
		return outcome{status: "error"}
	}
	o := outcome{status: "ok"}
	var isError bool
	if json.Unmarshal(result["isError"], &isError) == nil && isError {
		o.status = "error"
	}
	o.tokens = tokenCount(lookup(result, "_meta", "usage", "totalTokens"))
	if o.tokens == 0 {
		o.tokens = tokenCount(lookup(result, "usage", "total_tokens"))
	}
	return o
}

// lookup follows a path of object keys from m.
func lookup(m map[string]json.RawMessage, path ...string) json.RawMessage {
	v := m[path[0]]
	for _, k := range path[1:] {
		var next map[string]json.RawMessage
		if json.Unmarshal(v, &next) != nil {
			return nil
		}
		v = next[k]
	}
	return v
}

func tokenCount(raw json.RawMessage) int64 {
	if len(raw) == 0 { // absent: most results; the parsers' errors would cost four allocations
		return 0
	}
	n := string(raw)
	if i, err := strconv.ParseInt(n, 10, 64); err == nil {
		return max(i, 0)
	}
	if f, err := strconv.ParseFloat(n, 64); err == nil && f > 0 && f < math.MaxInt64 {
		return int64(f)
	}
	return 0
}

// idEqual compares two JSON-RPC ids by value.
func idEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&va) != nil || db.Decode(&vb) != nil {
		return false
	}
	switch x := va.(type) {
	case string:
		y, ok := vb.(string)
		return ok && x == y
	case json.Number:
		y, ok := vb.(json.Number)
		if !ok {
			return false
		}
		fx, ex := x.Float64()
		fy, ey := y.Float64()
		return ex == nil && ey == nil && fx == fy
	}
	return false
}

// marshal encodes v without HTML escaping; it only sees values decoded from JSON, which always encode.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte("null")
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
