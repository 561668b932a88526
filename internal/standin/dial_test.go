package standin

import (
	"context"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// closedPort is a loopback TCP port that nothing listens on: a listener's, stopped.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// blackholed is a loopback address whose SYNs are dropped, as a NetworkPolicy drops them: a listener with a
// backlog of 0 whose one queued connection is never accepted (Linux drops SYNs to a full accept queue). It is
// deterministic where a TEST-NET address is not (some networks answer for 192.0.2.0/24).
func blackholed(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue; the dials after that are dropped.
	for range 3 {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}

func TestDialTCP(t *testing.T) {
	t.Parallel()
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { open.Close() })
	tests := []struct {
		name, addr string
		wantOK     bool
		wantErr    string
	}{
		{"valid-open", open.Addr().String(), true, ""},
		{"invalid-closed-port", "127.0.0.1:" + strconv.Itoa(closedPort(t)), false, "refused"},
		{"invalid-blackholed", blackholed(t), false, "timeout"},
		{"invalid-no-such-host", "no-such-host.invalid:80", false, "dns: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := Target{Addr: tt.addr, Protocol: tcp, Source: "probe", Workload: "ns/w", Port: 9}
			r := Dial(context.Background(), target, 300*time.Millisecond, "")
			if r.OK != tt.wantOK || !strings.HasPrefix(r.Error, tt.wantErr) || (tt.wantErr == "" && r.Error != "") {
				t.Errorf("Dial(%s) = ok %v, error %q; want ok %v, error %q", tt.addr, r.OK, r.Error, tt.wantOK, tt.wantErr)
			}
			if r.Target != tt.addr || r.Workload != "ns/w" || r.Port != 9 || r.Protocol != tcp || r.Source != "probe" {
				t.Errorf("Dial(%s) = %+v: the target's fields are not carried over", tt.addr, r)
			}
		})
	}
}

func TestDialTimeoutIsBounded(t *testing.T) {
	t.Parallel()
	r := Dial(context.Background(), Target{Addr: blackholed(t), Protocol: tcp}, 200*time.Millisecond, "")
	if r.Error != "timeout" || r.Ms < 150 || r.Ms > 5000 {
		t.Errorf("Dial of a blackholed address = %+v; want a timeout after about 200 ms", r)
	}
}

func TestDialUDP(t *testing.T) {
	t.Parallel()
	srv, err := Listen("127.0.0.1", []Port{{0, udp}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	silent, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	closed, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.LocalAddr().String()
	closed.Close()
	tests := []struct {
		name, addr string
		wantOK     bool
		wantErr    string
	}{
		{"valid-stand-in", srv.Addrs()[0].String(), true, ""},
		{"invalid-silent", silent.LocalAddr().String(), false, "timeout"},
		{"invalid-closed-port", closedAddr, false, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Dial(context.Background(), Target{Addr: tt.addr, Protocol: udp}, 300*time.Millisecond, "")
			if r.OK != tt.wantOK || r.Error != tt.wantErr {
				t.Errorf("Dial(%s/UDP) = ok %v, error %q; want ok %v, error %q", tt.addr, r.OK, r.Error, tt.wantOK, tt.wantErr)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, "refused"},
		{&net.OpError{Op: "dial", Err: syscall.EHOSTUNREACH}, "unreachable"},
		{&net.OpError{Op: "dial", Err: syscall.ENETUNREACH}, "unreachable"},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, "reset"},
		{&net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}, "dns: no such host"},
		{&net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true}, "dns: timeout"},
		{context.DeadlineExceeded, "timeout"},
		{context.Canceled, "canceled"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.EACCES}, "permission denied"},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestDialTellsSelf checks that a probe that reaches the dialing pod's own stand-in (through its workload's Service)
// is marked Self, over TCP and UDP, and one that reaches another replica is not; other targets are never asked.
func TestDialTellsSelf(t *testing.T) {
	t.Parallel()
	srv, err := Listen("127.0.0.1", []Port{{0, tcp}, {0, udp}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Identify("api-0")
	for _, a := range srv.Addrs() {
		proto := tcp
		if _, ok := a.(*net.UDPAddr); ok {
			proto = udp
		}
		probe := Target{Addr: a.String(), Protocol: proto, Source: sourceProbe, Workload: "ns/api", Port: 1}
		for _, tc := range []struct {
			target   Target
			self     string
			wantSelf bool
		}{
			{probe, "api-0", true},
			{probe, "api-1", false},
			{probe, "", false},
			{Target{Addr: a.String(), Protocol: proto, Source: "config:DB_URL"}, "api-0", false},
		} {
			r := Dial(context.Background(), tc.target, time.Second, tc.self)
			if !r.OK || r.Self != tc.wantSelf {
				t.Errorf("%s %s as %q: ok %v self %v (%s); want ok, self %v", proto, tc.target.Source, tc.self, r.OK, r.Self, r.Error, tc.wantSelf)
			}
		}
	}
}

// TestDialPeers checks that a peers target is dialed at an address its name resolves to that is not the dialer's
// own (127.0.0.2 is no interface's address here, 127.0.0.1 is), and that a name resolving only to the dialer's own
// address is marked Self without a dial.
func TestDialPeers(t *testing.T) {
	t.Parallel()
	srv, err := Listen("127.0.0.2", []Port{{0, tcp}}, nil)
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Addrs()[0].String())
	other := Target{Addr: "127.0.0.2:" + port, Protocol: tcp, Source: sourceProbe, Workload: "ns/gw", Port: 1, Peers: true}
	if r := Dial(context.Background(), other, 10*time.Second, "gw-0"); !r.OK || r.Self {
		t.Errorf("peer at 127.0.0.2: ok %v self %v (%s); want a connection to the other replica", r.OK, r.Self, r.Error)
	}
	own := other
	own.Addr = "127.0.0.1:" + port
	if r := Dial(context.Background(), own, 10*time.Second, "gw-0"); !r.Self {
		t.Errorf("peer at the dialer's own address: self %v (%s); want it marked Self", r.Self, r.Error)
	}
	closed := other
	closed.Addr = "127.0.0.2:1"
	if r := Dial(context.Background(), closed, 10*time.Second, "gw-0"); r.OK || r.Self || r.Error != "refused" {
		t.Errorf("peer with nothing listening: ok %v self %v error %q; want refused", r.OK, r.Self, r.Error)
	}
	if got, err := ParseProbes(other.String()); err != nil || len(got) != 1 || got[0] != other {
		t.Errorf("ParseProbes(%q) = %+v, %v; want the peers target back", other.String(), got, err)
	}
}
