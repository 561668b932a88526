package standin

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

const (
	// idleTimeout closes a connection that sends nothing for this long.
	idleTimeout = 2 * time.Minute
	// maxConns bounds the connections a stand-in holds at once; more are closed at once.
	maxConns = 512
	// body is what a stand-in answers to every HTTP request.
	body = "agops stand-in\n"
)

// Server is a stand-in's listeners: TCP ports answer HTTP (and HTTPS, with a certificate made at start) on any
// path with 200 and accept anything else silently; UDP ports answer every datagram with the same datagram.
type Server struct {
	log   *slog.Logger
	tcp   []net.Listener
	udp   []net.PacketConn
	http  *http.Server
	conns *connListener
	tls   *tls.Config
	slots chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	mu     sync.Mutex
	open   map[net.Conn]bool // connections not yet handed to the HTTP server
	closed bool
	name   string // the pod's name, answered to whoProbe (Identify)
}

// whoProbe asks a stand-in who it is, over TCP (a line) or UDP (udpProbe): it answers its pod's name, so that a
// stand-in dialing its own workload's Service can tell the connections that came back to itself (hairpin traffic,
// which every enforcer lets through) from those that reached another replica.
const whoProbe = "agops-standin who\n"

// Identify sets the name the server answers to whoProbe and udpProbe.
func (s *Server) Identify(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.name = name
}

func (s *Server) identity() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.name
}

// Listen opens every port on host ("" is every interface) and serves them until Close. It fails if any port
// cannot be opened.
func Listen(host string, ports []Port, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := selfSignedTLS()
	if err != nil {
		return nil, err
	}
	s := &Server{log: log, tls: cfg, slots: make(chan struct{}, maxConns), conns: newConnListener(), open: map[net.Conn]bool{}}
	for _, p := range ports {
		addr := net.JoinHostPort(host, strconv.Itoa(int(p.Port)))
		if p.Protocol == udp {
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("listening on %s: %w", p, err)
			}
			s.udp = append(s.udp, pc)
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("listening on %s: %w", p, err)
		}
		s.tcp = append(s.tcp, l)
	}
	s.http = &http.Server{
		Handler:           http.HandlerFunc(answer),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	s.start()
	return s, nil
}

func (s *Server) start() {
	s.wg.Go(func() { _ = s.http.Serve(s.conns) })
	for _, l := range s.tcp {
		s.wg.Go(func() { s.accept(l) })
	}
	for _, pc := range s.udp {
		s.wg.Go(func() { s.echo(pc) })
	}
}

// Addrs are the addresses listened on: TCP first, then UDP, each in the order of the ports given.
func (s *Server) Addrs() []net.Addr {
	var out []net.Addr
	for _, l := range s.tcp {
		out = append(out, l.Addr())
	}
	for _, pc := range s.udp {
		out = append(out, pc.LocalAddr())
	}
	return out
}

// Close stops every listener and the connections being served, and waits for them.
func (s *Server) Close() error {
	s.once.Do(func() {
		for _, l := range s.tcp {
			l.Close()
		}
		for _, pc := range s.udp {
			pc.Close()
		}
		if s.http != nil {
			s.http.Close()
		}
		s.conns.Close()
		s.mu.Lock()
		s.closed = true
		for c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
	})
	s.wg.Wait()
	return nil
}

func answer(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, body)
}

func (s *Server) accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Debug("accept", "addr", l.Addr(), "err", err)
			}
			return
		}
		select {
		case s.slots <- struct{}{}:
			if !s.track(c, true) {
				c.Close()
				<-s.slots
				return
			}
			s.wg.Go(func() {
				defer func() { <-s.slots }()
				s.serve(c)
				s.track(c, false)
			})
		default:
			c.Close()
		}
	}
}

// track adds a connection to those Close closes, or removes it; it refuses to add one once the server closed.
func (s *Server) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.open, c)
		return true
	}
	if s.closed {
		return false
	}
	s.open[c] = true
	return true
}

// serve looks at a connection's first bytes: HTTP and TLS go to the HTTP server, anything else is read and
// dropped until the client closes or goes idle. A client that sends nothing stays connected.
func (s *Server) serve(c net.Conn) {
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(idleTimeout))
	switch sniff(br) {
	case kindHTTP:
		c.SetReadDeadline(time.Time{})
		s.conns.hand(&peeked{Conn: c, r: br})
		return
	case kindTLS:
		c.SetReadDeadline(time.Time{})
		s.conns.hand(tls.Server(&peeked{Conn: c, r: br}, s.tls))
		return
	case kindOther:
		if b, err := br.Peek(len(whoProbe)); err == nil && string(b) == whoProbe {
			br.Discard(len(whoProbe))
			c.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c, s.identity()+"\n")
		}
		for {
			c.SetReadDeadline(time.Now().Add(idleTimeout))
			if _, err := br.Discard(br.Buffered() + 1); err != nil {
				break
			}
		}
	}
	c.Close()
}

type kind int

const (
	kindNone  kind = iota // the client closed or stayed silent
	kindHTTP              // an HTTP/1 request line
	kindTLS               // a TLS handshake
	kindOther             // anything else
)

// httpMethods are the request methods an HTTP client starts with.
var httpMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"OPTIONS": true, "PATCH": true, "CONNECT": true, "TRACE": true}

// sniff reads ahead (without consuming) far enough to tell what the client speaks.
func sniff(br *bufio.Reader) kind {
	first, err := br.Peek(1)
	if err != nil {
		return kindNone
	}
	if first[0] == 0x16 { // TLS record type handshake
		return kindTLS
	}
	for n := 1; n <= 8; n++ {
		b, err := br.Peek(n)
		if err != nil {
			return kindOther
		}
		switch c := b[n-1]; {
		case c == ' ' && n > 1:
			if httpMethods[string(b[:n-1])] {
				return kindHTTP
			}
			return kindOther
		case c < 'A' || c > 'Z':
			return kindOther
		}
	}
	return kindOther
}

// peeked is a connection whose first bytes were read ahead into r.
type peeked struct {
	net.Conn
	r *bufio.Reader
}

func (p *peeked) Read(b []byte) (int, error) { return p.r.Read(b) }

// connListener hands sniffed connections to the HTTP server.
type connListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) hand(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{} }

// echo answers every datagram with itself, but udpProbe with the server's identity once it has one.
func (s *Server) echo(pc net.PacketConn) {
	buf := make([]byte, 64*1024)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Debug("udp read", "addr", pc.LocalAddr(), "err", err)
				continue
			}
			return
		}
		answer := buf[:n]
		if name := s.identity(); name != "" && string(answer) == string(udpProbe) {
			answer = []byte(name + "\n")
		}
		if _, err := pc.WriteTo(answer, from); err != nil {
			s.log.Debug("udp answer", "to", from, "err", err)
		}
	}
}
