package standin

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// DefaultDialTimeout bounds one dial: a connection a NetworkPolicy drops never answers, so it ends here.
const DefaultDialTimeout = time.Second

// udpProbe is the datagram a stand-in sends to a UDP target; stand-ins answer any datagram.
var udpProbe = []byte("agops-standin probe\n")

// selfTries bounds the dials of a probe target that keep landing on the dialer itself: its own Service picks one of
// the workload's pods at random for every connection, so a few more tries reach another replica when there is one.
const selfTries = 4

// Dial opens a connection to t and closes it again: a TCP connect, or for UDP a datagram sent and an answer
// awaited. It reports how it went and how long it took; timeout bounds it. self, when set, is the dialing pod's
// name: a probe target (a peer's stand-in) is asked who answered (whoProbe), a connection that came back to the
// dialer itself is tried again a few times (selfTries), and one that only ever came back is marked Self. A peers
// target (Target.Peers) is dialed at one of the addresses its name resolves to that is not the dialer's own.
func Dial(ctx context.Context, t Target, timeout time.Duration, self string) Result {
	r := Result{Target: t.Addr, Source: t.Source, Workload: t.Workload, Port: t.Port, Protocol: t.Protocol}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr, err := t.Addr, error(nil)
	if t.Peers {
		addr, err = otherPeer(ctx, t.Addr)
		if err == nil && addr == "" {
			// No other replica answers to the name: the pair cannot be measured from this pod.
			r.Ms, r.OK, r.Self = time.Since(start).Milliseconds(), true, true
			return r
		}
	}
	ask := self != "" && t.Source == sourceProbe && !t.Peers
	var answer string
	for try := 0; err == nil && try < selfTries; try++ {
		if t.Protocol == udp {
			answer, err = dialUDP(ctx, addr)
		} else {
			var c net.Conn
			if c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr); err == nil {
				if ask {
					answer = who(ctx, c)
				}
				c.Close()
			}
		}
		if !ask || answer != self+"\n" {
			break
		}
	}
	r.Ms = time.Since(start).Milliseconds()
	r.OK = err == nil
	if err != nil {
		r.Error = classify(err)
	}
	r.Self = ask && r.OK && answer == self+"\n"
	return r
}

// otherPeer resolves the host of addr (a headless Service's name, which resolves to its pods' addresses) and returns
// one of its addresses that is not the dialer's own, with addr's port, chosen at random; "" when there is none.
func otherPeer(ctx context.Context, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	ips, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return "", err
	}
	own := map[string]bool{}
	if as, err := net.InterfaceAddrs(); err == nil {
		for _, a := range as {
			if n, ok := a.(*net.IPNet); ok {
				own[n.IP.String()] = true
			}
		}
	}
	ips = slices.DeleteFunc(ips, func(ip string) bool { return own[ip] })
	if len(ips) == 0 {
		return "", nil
	}
	return net.JoinHostPort(ips[rand.IntN(len(ips))], port), nil
}

// who asks a connected stand-in its name; anything else (an answer that does not come in time) is "".
func who(ctx context.Context, c net.Conn) string {
	deadline, _ := ctx.Deadline()
	if c.SetDeadline(deadline) != nil {
		return ""
	}
	if _, err := io.WriteString(c, whoProbe); err != nil {
		return ""
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return ""
	}
	return line
}

// dialUDP sends udpProbe and returns the answer.
func dialUDP(ctx context.Context, addr string) (string, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, "udp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	if err := c.SetDeadline(deadline); err != nil {
		return "", err
	}
	if _, err := c.Write(udpProbe); err != nil {
		return "", err
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

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
