package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// relay copies an MCP upstream's response to the client: it filters result.tools of every JSON-RPC response to the
// tools the caller may see, and reads the result of the judged tools/call (callID) for its status and tokens.
type relay struct {
	maxEvent int64
	allowed  func(tool string) bool
	callID   json.RawMessage
	// onResult, if set, learns the judged call's outcome and response message as soon as it is read, before the
	// client sees it: the result is audited, its tokens counted and an idempotency key settled before the agent can
	// act on it.
	onResult func(o outcome, msg []byte)
	// onStray, if set, learns the tokens of any other result that reports some: on a GET stream, the result of a
	// tools/call whose POST stream broke, resumed there with Last-Event-Id, so that its tokens still count.
	onStray func(tokens int64)
	// onEndpoint, if set, replaces the data of an "endpoint" event (the HTTP+SSE transport's session endpoint) by
	// what it returns; an error ends the relay.
	onEndpoint func(data []byte) ([]byte, error)

	found bool // the response to callID went by
	out   outcome
	err   error // why relaying stopped early, if it did
}

// response relays resp to w and returns what it learned about the judged call.
func (rl *relay) response(w http.ResponseWriter, resp *http.Response) outcome {
	for k, v := range resp.Header {
		if k == "Content-Type" || k == "Cache-Control" || strings.HasPrefix(k, "Mcp-") {
			w.Header()[k] = v
		}
	}
	media, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var err error
	switch media {
	case "application/json":
		err = rl.json(w, resp)
	case "text/event-stream":
		w.WriteHeader(resp.StatusCode)
		_ = http.NewResponseController(w).Flush()
		err = rl.events(w, resp.Body)
	default:
		w.WriteHeader(resp.StatusCode)
		_, err = io.Copy(w, io.LimitReader(resp.Body, rl.maxEvent))
	}
	rl.err = err
	switch {
	case err != nil || resp.StatusCode >= 500:
		return outcome{status: "upstream-error", tokens: rl.out.tokens}
	case !rl.found:
		return outcome{status: "error"}
	}
	return rl.out
}

var errResponseTooLarge = errors.New("upstream response over the limit")

func (rl *relay) json(w http.ResponseWriter, resp *http.Response) error {
	body, err := readAll(resp.Body, resp.ContentLength, rl.maxEvent+1)
	if err == nil && int64(len(body)) > rl.maxEvent {
		err = errResponseTooLarge
	}
	if err != nil {
		writeRPCError(w, rl.callID, newRPCError(http.StatusBadGateway, CodeUpstream, "gateway:upstream",
			"the tool server's answer could not be read"), "")
		return err
	}
	body = rl.message(body)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	return nil
}

// events relays a text/event-stream event by event, parsing it the way the MCP go-sdk client does: lines end at
// '\n' (a trailing '\r' is dropped), "data:" values are trimmed and joined with '\n', a blank line ends an event.
// Events are forwarded byte-for-byte unless their data had to change.
func (rl *relay) events(w io.Writer, body io.Reader) error {
	br := bufio.NewReaderSize(body, 32<<10)
	flush := func() {
		if rw, ok := w.(http.ResponseWriter); ok {
			_ = http.NewResponseController(rw).Flush()
		}
	}
	var raw, head, data bytes.Buffer // the event as read; its lines other than data; its joined data
	hasData := false
	var name []byte // the event's type
	for {
		line, err := readLine(br, rl.maxEvent-int64(raw.Len()))
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		raw.Write(line)
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 { // end of the event (or of the stream)
			if hasData {
				out := data.Bytes()
				if rl.onEndpoint != nil && string(name) == "endpoint" {
					var eerr error
					if out, eerr = rl.onEndpoint(out); eerr != nil {
						return eerr
					}
				} else {
					out = rl.message(out)
				}
				if !bytes.Equal(out, data.Bytes()) {
					raw.Reset()
					if out != nil {
						raw.Write(head.Bytes())
						raw.WriteString("data: ")
						raw.Write(out)
						raw.WriteString("\n\n")
					}
				}
			}
			if _, werr := w.Write(raw.Bytes()); werr != nil {
				return werr
			}
			flush()
			raw.Reset()
			head.Reset()
			data.Reset()
			hasData = false
			name = nil
			if err != nil {
				return nil // EOF
			}
			continue
		}
		if v, ok := bytes.CutPrefix(trimmed, []byte("data:")); ok {
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(bytes.TrimSpace(v))
			hasData = true
		} else {
			if v, ok := bytes.CutPrefix(trimmed, []byte("event:")); ok {
				name = bytes.TrimSpace(v)
			}
			head.Write(line)
		}
		// At EOF in the middle of an event, the next read returns nothing and the event ends as if a blank line
		// followed.
	}
}

// readLine reads one line, '\n' included, of at most max bytes; at the end of the stream it returns what is left
// and io.EOF.
func readLine(br *bufio.Reader, max int64) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if int64(len(line)) > max {
			return nil, errResponseTooLarge
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, err
	}
}

// readAll reads r up to limit bytes, sized for a body announced as size bytes (-1: unknown).
func readAll(r io.Reader, size, limit int64) ([]byte, error) {
	if size < 0 || size >= limit {
		size = 512
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+1))
	_, err := buf.ReadFrom(io.LimitReader(r, limit))
	return buf.Bytes(), err
}
