package standin

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// DefaultDialTimeout bounds one dial: a connection a NetworkPolicy drops never answers, so it ends here.
const DefaultDialTimeout = time.Second

// udpProbe is the datagram a stand-in sends to a UDP target; stand-ins answer any datagram.
var udpProbe = []byte("agops-standin probe\n")

// Dial opens a connection to t and closes it again: a TCP connect, or for UDP a datagram sent and an answer
// awaited. It reports how it went and how long it took; timeout bounds it.
func Dial(ctx context.Context, t Target, timeout time.Duration) Result {
	r := Result{Target: t.Addr, Source: t.Source, Workload: t.Workload, Port: t.Port, Protocol: t.Protocol}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var err error
	if t.Protocol == udp {
		err = dialUDP(ctx, t.Addr)
	} else {
		var c net.Conn
		if c, err = (&net.Dialer{}).DialContext(ctx, "tcp", t.Addr); err == nil {
			c.Close()
		}
	}
	r.Ms = time.Since(start).Milliseconds()
	r.OK = err == nil
	if err != nil {
		r.Error = classify(err)
	}
	return r
}

func dialUDP(ctx context.Context, addr string) error {
	c, err := (&net.Dialer{}).DialContext(ctx, "udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := c.Write(udpProbe); err != nil {
		return err
	}
	buf := make([]byte, 512)
	_, err = c.Read(buf)
	return err
}

// classify names a dial error the way reports do.
func classify(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return "dns: timeout"
		}
		return "dns: " + dnsErr.Err
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err):
		return "timeout"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	// The dialer's message names the operation and address before the cause; the cause is what differs.
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
