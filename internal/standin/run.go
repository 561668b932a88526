package standin

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The variables the transform gives every stand-in, from the downward API.
const (
	envPodName      = "POD_NAME"
	envPodNamespace = "POD_NAMESPACE"
)

// DefaultEvery is the time between two rounds of dials.
const DefaultEvery = 2 * time.Second

// maxParallelDials bounds the dials of one round in flight at once.
const maxParallelDials = 32

// Config is what one stand-in does: the flags of `agops stand-in` and what it reads of its container.
type Config struct {
	Listen []Port   // ports to listen on
	Probes []Target // peers' ports to dial (ParseProbes)
	// Command is the container's original command and arguments; Env its environment ("NAME=value"). Both are
	// scanned for addresses (ConfigTargets); Env also names the pod (POD_NAME, POD_NAMESPACE).
	Command []string
	Env     []string
	// Hostname names the pod when Env does not.
	Hostname string
	// Workload and Container say whose stand-in this is; reports carry them.
	Workload, Container string
	// Every is the time between rounds (DefaultEvery when zero); Timeout bounds a dial (DefaultDialTimeout).
	Every, Timeout time.Duration
	// Once makes Run do one round and return: for Jobs and init containers.
	Once bool
	// ListenHost is the address to listen on; empty is every interface.
	ListenHost string
	// Logger receives what goes wrong (nothing is logged when nil); reports go to Run's writer.
	Logger *slog.Logger
}

// pod is the pod's name and namespace, from the downward API variables or the hostname.
func (c Config) pod() (name, namespace string) {
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case envPodName:
			name = v
		case envPodNamespace:
			namespace = v
		}
	}
	if name == "" {
		name = c.Hostname
	}
	return name, namespace
}

// controlAddr is the abstract Unix socket a stand-in opens once it listens on all its ports, and Check dials. It
// lives in the pod's network namespace, needs no writable file system, and is named after the pod and container
// so that containers of one pod (or pods sharing the host's network) do not meet.
func (c Config) controlAddr() string {
	name, namespace := c.pod()
	sum := sha256.Sum256([]byte(namespace + "/" + name + "/" + c.Container))
	return "@agops-standin-" + hex.EncodeToString(sum[:12])
}

// Run is the stand-in: it listens on c.Listen, then every c.Every dials its configuration's addresses and its
// probes and writes one report line (Report.Line) to out, until ctx ends (a SIGTERM), which is not an error. With
// c.Once it does one round and returns.
func Run(ctx context.Context, c Config, out io.Writer) error {
	if c.Every <= 0 {
		c.Every = DefaultEvery
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultDialTimeout
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv, err := Listen(c.ListenHost, c.Listen, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	ctl, err := listenControl(c.controlAddr())
	if err != nil {
		log.Warn("stand-in check socket", "err", err)
	} else {
		defer ctl.Close()
	}
	config, self := ConfigTargets(c.Env, c.Command)
	name, namespace := c.pod()
	srv.Identify(name)
	base := Report{Pod: name, Namespace: namespace, Workload: c.Workload, Container: c.Container, Listening: listening(srv)}
	tick := time.NewTicker(c.Every)
	defer tick.Stop()
	for round := 1; ; round++ {
		rep := base
		rep.Round, rep.Time = round, time.Now().UTC().Truncate(time.Millisecond)
		rep.Results = dialAll(ctx, append(append([]Target{}, config...), c.Probes...), c.Timeout, name)
		rep.Self = dialAll(ctx, self, c.Timeout, "")
		if ctx.Err() != nil {
			return nil
		}
		line, err := rep.Line()
		if err != nil {
			return err
		}
		if _, err := out.Write(line); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
		if c.Once {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// listening names the ports a server listens on.
func listening(s *Server) []string {
	out := []string{}
	for _, a := range s.Addrs() {
		switch a := a.(type) {
		case *net.TCPAddr:
			out = append(out, strconv.Itoa(a.Port)+"/"+tcp)
		case *net.UDPAddr:
			out = append(out, strconv.Itoa(a.Port)+"/"+udp)
		}
	}
	return out
}

// dialAll dials the targets, some at once, and returns their results in the targets' order.
func dialAll(ctx context.Context, ts []Target, timeout time.Duration, self string) []Result {
	if len(ts) == 0 {
		return nil
	}
	out := make([]Result, len(ts))
	sem := make(chan struct{}, maxParallelDials)
	var wg sync.WaitGroup
	for i, t := range ts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = Dial(ctx, t, timeout, self)
		})
	}
	wg.Wait()
	return out
}

// ready is what the control socket answers.
const ready = "ready\n"

func listenControl(addr string) (net.Listener, error) {
	l, err := net.Listen("unix", addr)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c, ready)
			c.Close()
		}
	}()
	return l, nil
}

// Check tells whether the stand-in of the container c describes (c.Env, c.Hostname, c.Container: the same as its
// Run's) is up and listening on all its ports: what replaces exec probes. c.Timeout bounds it.
func Check(ctx context.Context, c Config) error {
	if c.Timeout <= 0 {
		c.Timeout = DefaultDialTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "unix", c.controlAddr())
	if err != nil {
		return fmt.Errorf("the stand-in of container %q is not up: %w", c.Container, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetReadDeadline(deadline)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("the stand-in of container %q does not answer: %w", c.Container, err)
	}
	if line != ready {
		return fmt.Errorf("the stand-in of container %q answers %q, not %q", c.Container, line, ready)
	}
	return nil
}
