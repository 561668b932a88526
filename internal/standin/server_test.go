package standin

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func listenTCP(t *testing.T) (*Server, string) {
	t.Helper()
	srv, err := Listen("127.0.0.1", []Port{{0, tcp}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, srv.Addrs()[0].String()
}

func TestServerAnswersHTTPOnAnyPath(t *testing.T) {
	t.Parallel()
	_, addr := listenTCP(t)
	client := &http.Client{Timeout: 5 * time.Second}
	for _, req := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/healthz"}, {"GET", "/v1/models?x=1"}, {"HEAD", "/ready"}, {"POST", "/api/run"},
		{"OPTIONS", "/"}, {"DELETE", "/x/y/z"},
	} {
		r, err := http.NewRequest(req.method, "http://"+addr+req.path, strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatalf("%s %s: %v", req.method, req.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := body
		if req.method == "HEAD" {
			want = ""
		}
		if resp.StatusCode != http.StatusOK || string(b) != want {
			t.Errorf("%s %s = %d %q, want 200 %q", req.method, req.path, resp.StatusCode, b, want)
		}
	}
}

// TestServerKeepAlive: an HTTP client reuses its connection, as the kubelet's prober may.
func TestServerKeepAlive(t *testing.T) {
	t.Parallel()
	_, addr := listenTCP(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for i := range 3 {
		if _, err := io.WriteString(c, "GET /probe HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on one connection: %v", i+1, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("request %d: status %d", i+1, resp.StatusCode)
		}
	}
}

// TestServerAnswersHTTPS: httpGet probes with scheme HTTPS do not verify the certificate.
func TestServerAnswersHTTPS(t *testing.T) {
	t.Parallel()
	_, addr := listenTCP(t)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the stand-in's certificate is self-signed by design
	}}
	resp, err := client.Get("https://" + addr + "/secure/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(b) != body {
		t.Errorf("HTTPS GET = %d %q, want 200 %q", resp.StatusCode, b, body)
	}
}

// TestServerSilentClientStaysConnected: a TCP client that sends nothing (a tcpSocket probe, a peer's dial) is
// connected, and stays so.
func TestServerSilentClientStaysConnected(t *testing.T) {
	t.Parallel()
	_, addr := listenTCP(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read from the stand-in = %v; want a timeout (connection kept open, nothing sent)", err)
	}
}

// TestServerIgnoresOtherProtocols: bytes that are not HTTP are read and dropped, the connection closed cleanly
// (EOF, not a reset) when the client is done, and the server keeps answering.
func TestServerIgnoresOtherProtocols(t *testing.T) {
	t.Parallel()
	_, addr := listenTCP(t)
	for _, payload := range []string{"\x00\x01\x02binary", "PING\r\n", "SSH-2.0-OpenSSH_9.6\r\n", "get / HTTP/1.1\r\n\r\n", "G"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, payload); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || len(got) != 0 {
			t.Errorf("after %q the stand-in sent %q, %v; want nothing and a clean close", payload, got, err)
		}
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("HTTP after other protocols: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HTTP after other protocols: status %d", resp.StatusCode)
	}
}

func TestServerEchoesUDP(t *testing.T) {
	t.Parallel()
	srv, err := Listen("127.0.0.1", []Port{{0, udp}, {0, udp}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, a := range srv.Addrs() {
		c, err := net.Dial("udp", a.String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("dns?")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		c.Close()
		if err != nil || string(buf[:n]) != "dns?" {
			t.Errorf("UDP %s answered %q, %v; want the datagram back", a, buf[:n], err)
		}
	}
}

func TestListenFailsOnATakenPort(t *testing.T) {
	t.Parallel()
	_, addr := listenTCP(t)
	_, port, _ := net.SplitHostPort(addr)
	ports, _ := ParsePorts(port + "/TCP")
	if srv, err := Listen("127.0.0.1", ports, nil); err == nil {
		srv.Close()
		t.Fatalf("Listen on the taken port %s succeeded", addr)
	} else if !strings.Contains(err.Error(), "listening on "+port+"/TCP") {
		t.Errorf("Listen error = %v; want it to name the port", err)
	}
}

// TestServerCloseIsPrompt: Close does not wait for clients that hold connections open.
func TestServerCloseIsPrompt(t *testing.T) {
	t.Parallel()
	srv, err := Listen("127.0.0.1", []Port{{0, tcp}, {0, udp}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addrs()[0].String()
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	keepAlive, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer keepAlive.Close()
	io.WriteString(keepAlive, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close is still waiting after 5 s")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("the port still accepts after Close")
	}
}

func TestSniff(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]kind{
		"GET / HTTP/1.1\r\n": kindHTTP, "HEAD /x HTTP/1.0\r\n": kindHTTP, "OPTIONS * HTTP/1.1": kindHTTP,
		"\x16\x03\x01": kindTLS, "PING\r\n": kindOther, "GETS x": kindOther, "get / ": kindOther, " GET": kindOther,
		"ABCDEFGHIJ": kindOther, "GE": kindOther, "": kindNone,
	} {
		if got := sniff(bufio.NewReader(strings.NewReader(in))); got != want {
			t.Errorf("sniff(%q) = %d, want %d", in, got, want)
		}
	}
}
