package gateway

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// A gateway with several replicas keeps each pending approval in the replica whose caller waits for it. An admin
// request for an approval a replica does not hold is passed on to its peers (Options.Peers), once: a forwarded
// request carries forwardedHeader and is never passed on again. Listing gathers every replica's pending approvals.
const forwardedHeader = "X-Agops-Forwarded"

// PeersByDNS returns the admin base URLs of the other replicas: the addresses a (headless Service) name resolves
// to, minus this host's own, on port.
func PeersByDNS(name string, port int) func(context.Context) []string {
	return func(ctx context.Context) []string {
		addrs, err := net.DefaultResolver.LookupHost(ctx, name)
		if err != nil {
			return nil
		}
		own := map[string]bool{}
		if ifaces, err := net.InterfaceAddrs(); err == nil {
			for _, a := range ifaces {
				if ipn, ok := a.(*net.IPNet); ok {
					own[ipn.IP.String()] = true
				}
			}
		}
		var out []string
		for _, a := range addrs {
			if !own[a] {
				out = append(out, "http://"+net.JoinHostPort(a, strconv.Itoa(port)))
			}
		}
		return out
	}
}

// peerClient reaches the other replicas' admin listeners.
var peerClient = &http.Client{Timeout: 10 * time.Second}

// forwardDecision passes the decision of approver who on approval id to the peers until one holds the approval; it
// reports whether one answered (and then has written its answer to w). The peers learn who decided from
// approverHeader, which they accept from a replica only.
func (g *Gateway) forwardDecision(w http.ResponseWriter, r *http.Request, id string, body []byte, who, via string) bool {
	if g.opts.Peers == nil || r.Header.Get(forwardedHeader) != "" || g.opts.PeerToken == "" {
		return false
	}
	for _, peer := range g.opts.Peers(r.Context()) {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, peer+"/approvals/"+id, bytes.NewReader(body))
		if err != nil {
			continue
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(forwardedHeader, "1")
		req.Header.Set(approverHeader, who)
		if via != "" {
			req.Header.Set(viaHeader, via)
		}
		req.Header.Set("Authorization", "Bearer "+g.opts.PeerToken)
		resp, err := peerClient.Do(req)
		if err != nil {
			g.log.Warn("approval peer unreachable", "peer", peer, "err", err)
			continue
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			continue
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
		return true
	}
	return false
}

// peerPending gathers the pending approvals the peers hold.
func (g *Gateway) peerPending(r *http.Request) []Approval {
	if g.opts.Peers == nil || r.Header.Get(forwardedHeader) != "" {
		return nil
	}
	var out []Approval
	for _, peer := range g.opts.Peers(r.Context()) {
		views, err := g.peerAdmin(peer).Pending(r.Context())
		if err != nil {
			g.log.Warn("approval peer unreachable", "peer", peer, "err", err)
			continue
		}
		out = append(out, views...)
	}
	return out
}
