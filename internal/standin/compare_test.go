package standin

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/check/reach"
	"github.com/agops/agops/internal/kube"
)

// probe is a probe result for Measure's tests.
func probe(to string, port int32, proto string, ok bool, err string) Result {
	return Result{Target: "x:1", Source: sourceProbe, Workload: to, Port: port, Protocol: proto, OK: ok, Error: err}
}

// selfProbe is a probe that came back to the dialing pod.
func selfProbe(to string, port int32) Result {
	r := probe(to, port, tcp, true, "")
	r.Self = true
	return r
}

func report(workload, pod string, round int, results ...Result) Report {
	return Report{Pod: pod, Namespace: "ns", Workload: workload, Container: "c", Round: round, Results: results}
}

func TestMeasure(t *testing.T) {
	t.Parallel()
	reports := []Report{
		// Two pods of web: api is open from both, db closed from both, cache open from one only.
		report("ns/web", "web-1", 7, probe("ns/api", 8000, tcp, true, ""), probe("ns/db", 5432, tcp, false, "timeout"),
			probe("ns/cache", 6379, tcp, true, ""), Result{Target: "api:8000", Source: "config:API_URL", Port: 8000, Protocol: tcp, OK: false, Error: "refused"}),
		report("ns/web", "web-2", 3, probe("ns/api", 8000, tcp, true, ""), probe("ns/db", 5432, tcp, false, "refused"),
			probe("ns/cache", 6379, tcp, false, "timeout")),
		// An older round of web-1 is left out with rounds=1 (it would make db flaky).
		report("ns/web", "web-1", 6, probe("ns/db", 5432, tcp, true, "")),
		// UDP, and a report without a workload (left out). api-0's dial of its own Service that came back to
		// itself is left out too: the refused one, to the other replica, is what counts.
		report("ns/api", "api-0", 1, probe("ns/dns", 53, udp, true, ""), selfProbe("ns/api", 8000),
			probe("ns/api", 8000, tcp, false, "refused")),
		report("", "stray", 1, probe("ns/api", 8000, tcp, false, "timeout")),
	}
	m := Measure(reports, 1)
	want := []MeasuredPair{
		{From: "ns/api", To: "ns/api", Port: "8000/TCP", State: Closed, Failed: 1, Errors: []string{"refused"}, Pods: 1},
		{From: "ns/api", To: "ns/dns", Port: "53/UDP", State: Open, OK: 1, Pods: 1},
		{From: "ns/web", To: "ns/api", Port: "8000/TCP", State: Open, OK: 2, Pods: 2},
		{From: "ns/web", To: "ns/cache", Port: "6379/TCP", State: Flaky, OK: 1, Failed: 1, Errors: []string{"timeout"}, Pods: 2},
		{From: "ns/web", To: "ns/db", Port: "5432/TCP", State: Closed, Failed: 2, Errors: []string{"refused", "timeout"}, Pods: 2},
	}
	if !reflect.DeepEqual(m.Pairs, want) {
		t.Errorf("Measure:\n got %+v\nwant %+v", m.Pairs, want)
	}
	// With the last two rounds, web-1's round 6 counts: db becomes flaky.
	m = Measure(reports, 2)
	if i := slices.IndexFunc(m.Pairs, func(p MeasuredPair) bool { return p.To == "ns/db" }); m.Pairs[i].State != Flaky || m.Pairs[i].OK != 1 {
		t.Errorf("Measure over 2 rounds: db %+v, want flaky", m.Pairs[i])
	}
	if m := Measure(nil, 0); m.Pairs == nil || len(m.Pairs) != 0 {
		t.Errorf("Measure(nil) = %+v, want an empty list", m)
	}
}

// matrix is a predicted matrix of four workloads: web may reach api on 8000, api reaches db on any TCP port and
// the cache on a range, nothing else is allowed; db and cache declare ports, web declares 80.
func matrix() reach.Matrix {
	node := func(id string, ports ...reach.Port) reach.Node {
		return reach.Node{ID: id, Kind: "Deployment", Ports: ports}
	}
	return reach.Matrix{
		Nodes: []reach.Node{
			node("ns/api", reach.Port{Port: 8000, Protocol: tcp}),
			node("ns/cache", reach.Port{Port: 6379, Protocol: tcp}),
			node("ns/db", reach.Port{Port: 5432, Protocol: tcp}, reach.Port{Port: 5432, Protocol: udp}),
			node("ns/web", reach.Port{Port: 80, Protocol: tcp}),
			{ID: "kube-system/kube-dns", Ports: []reach.Port{{Port: 53, Protocol: udp}}},
			{ID: "kube-system/svclb-web", Kind: "ServiceLB", Ports: []reach.Port{{Port: 80, Protocol: tcp}}},
			{ID: "external"},
		},
		Edges: []reach.Edge{
			{From: "ns/web", To: "ns/api", Ports: []string{"8000/TCP"}},
			{From: "ns/api", To: "ns/db", Ports: []string{"any/TCP"}},
			{From: "ns/api", To: "ns/cache", Ports: []string{"6000-6999/TCP"}},
			{From: "ns/web", To: "kube-system/kube-dns", Ports: []string{"53/UDP"}},
			{From: "ns/web", To: "external", Ports: []string{"any"}},
		},
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	measured := Measure([]Report{
		report("ns/web", "web-1", 1,
			probe("ns/api", 8000, tcp, true, ""),        // as predicted: open
			probe("ns/db", 5432, tcp, true, ""),         // predicted closed, measured open
			probe("ns/cache", 6379, tcp, true, ""),      // flaky with web-2
			probe("ns/web", 80, tcp, false, "timeout")), // predicted closed, measured closed
		report("ns/web", "web-2", 1, probe("ns/cache", 6379, tcp, false, "timeout")),
		report("ns/api", "api-1", 1,
			probe("ns/db", 5432, tcp, false, "timeout"),           // predicted open (any/TCP), measured closed
			probe("ns/cache", 6379, tcp, true, ""),                // predicted open (range), measured open
			probe("ns/db", 5432, udp, false, "timeout"),           // predicted closed (TCP only), measured closed
			probe("ns/gone", 9, tcp, false, "dns: no such host")), // not in the matrix: a row of its own
	}, 1)
	// The cache is not a Compose service: it has no Compose verdict.
	compose := ComposeReach{"ns/web": {"edge"}, "ns/api": {"edge", "data"}, "ns/db": {"data"}}
	c := Compare(matrix(), measured, compose)
	wantDisagreements := []string{
		"ns/api -> ns/db 5432/TCP: predicted open, measured closed (0 of 1 dials connected; timeout)",
		"ns/web -> ns/db 5432/TCP: predicted closed, measured open (1 of 1 dials connected)",
	}
	if !slices.Equal(c.Disagreements, wantDisagreements) {
		t.Errorf("disagreements:\n got %q\nwant %q", c.Disagreements, wantDisagreements)
	}
	if want := []string{"ns/web -> ns/cache 6379/TCP: predicted closed, measured flaky (1 of 2 dials connected; timeout)"}; !slices.Equal(c.Flaky, want) {
		t.Errorf("flaky:\n got %q\nwant %q", c.Flaky, want)
	}
	wantCompose := []string{
		"ns/api -> ns/api 8000/TCP: Compose open, Kubernetes closed (predicted)",
		"ns/api -> ns/db 5432/TCP: Compose open, Kubernetes closed (measured)",
		"ns/api -> ns/db 5432/UDP: Compose open, Kubernetes closed (measured)",
		"ns/api -> ns/web 80/TCP: Compose open, Kubernetes closed (predicted)",
		"ns/db -> ns/api 8000/TCP: Compose open, Kubernetes closed (predicted)",
		"ns/db -> ns/db 5432/TCP: Compose open, Kubernetes closed (predicted)",
		"ns/db -> ns/db 5432/UDP: Compose open, Kubernetes closed (predicted)",
		"ns/web -> ns/db 5432/TCP: Compose closed, Kubernetes open (measured)",
		"ns/web -> ns/web 80/TCP: Compose open, Kubernetes closed (measured)",
	}
	if !slices.Equal(c.ComposeDifferences, wantCompose) {
		t.Errorf("compose differences:\n got %q\nwant %q", c.ComposeDifferences, wantCompose)
	}
	// 4 workloads x 5 declared ports + ns/gone; kube-dns, ServiceLB and the outside world are not rows.
	if len(c.Rows) != 21 {
		t.Errorf("%d rows, want 21", len(c.Rows))
	}
	if c.Unmeasured != 21-8 {
		t.Errorf("%d unmeasured, want %d", c.Unmeasured, 21-8)
	}
	row := func(from, to, port string) Row {
		i := slices.IndexFunc(c.Rows, func(r Row) bool { return r.From == from && r.To == to && r.Port == port })
		if i < 0 {
			t.Fatalf("no row %s -> %s %s", from, to, port)
		}
		return c.Rows[i]
	}
	if r := row("ns/web", "ns/db", "5432/TCP"); r.Compose != Closed || r.Predicted != Closed || r.Measured != Open || !r.Disagrees || !r.DiffersFromCompose {
		t.Errorf("web -> db: %+v", r)
	}
	if r := row("ns/cache", "ns/api", "8000/TCP"); r.Compose != Unknown || r.Predicted != Closed || r.Measured != Unknown || r.Disagrees || r.DiffersFromCompose {
		t.Errorf("cache -> api (unmeasured): %+v", r)
	}
	if r := row("ns/api", "ns/gone", "9/TCP"); r.Compose != Unknown || r.Predicted != Closed || r.Measured != Closed {
		t.Errorf("api -> gone: %+v", r)
	}
}

func TestComposeReach(t *testing.T) {
	t.Parallel()
	c := ComposeReach{"a": {"x", "y"}, "b": {"y"}, "c": {"z"}, "none": {}}
	for _, tt := range []struct {
		from, to string
		want     State
	}{{"a", "b", Open}, {"b", "a", Open}, {"a", "c", Closed}, {"a", "a", Open}, {"none", "none", Closed}, {"a", "gateway", Unknown}, {"gateway", "a", Unknown}} {
		if got := c.state(tt.from, tt.to); got != tt.want {
			t.Errorf("state(%s, %s) = %q, want %q", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestCellAllows(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cell []string
		port string
		want bool
	}{
		{[]string{"any"}, "1/UDP", true},
		{[]string{"any/UDP"}, "53/UDP", true},
		{[]string{"any/UDP"}, "53/TCP", false},
		{[]string{"8000/TCP"}, "8000/TCP", true},
		{[]string{"8000/TCP"}, "8000/UDP", false},
		{[]string{"8000/TCP"}, "8001/TCP", false},
		{[]string{"53/UDP", "8000-8100/TCP"}, "8100/TCP", true},
		{[]string{"8000-8100/TCP"}, "8101/TCP", false},
		{nil, "80/TCP", false},
	} {
		if got := cellAllows(tt.cell, tt.port); got != tt.want {
			t.Errorf("cellAllows(%q, %s) = %v, want %v", tt.cell, tt.port, got, tt.want)
		}
	}
}

func TestComparisonText(t *testing.T) {
	t.Parallel()
	c := Compare(matrix(), Measure([]Report{
		report("ns/web", "web-1", 1, probe("ns/db", 5432, tcp, true, ""), probe("ns/api", 8000, tcp, false, "timeout")),
	}, 1), ComposeReach{"ns/web": {"edge"}, "ns/api": {"edge"}})
	var b bytes.Buffer
	if err := c.Text(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"FROM      TO        PORT      COMPOSE  PREDICTED  MEASURED          NOTE\n",
		"ns/web    ns/api    8000/TCP  open     open       closed (timeout)  DISAGREES, not as in Compose\n",
		"ns/web    ns/db     5432/TCP  -        closed     open              DISAGREES\n",
		"ns/api    ns/cache  6379/TCP  -        open       -                 -\n",
		"20 pairs, 18 not measured\n",
		"DISAGREEMENTS (predicted by agops check, measured by the stand-ins): 2\n- ns/web -> ns/api 8000/TCP: predicted open, measured closed (0 of 1 dials connected; timeout)\n",
		"FLAKY (connected in some dials, not in others): 0\n",
		"KUBERNETES IS NOT AS COMPOSE WAS: 4\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	js, err := c.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Comparison
	if err := json.Unmarshal(js, &back); err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("JSON does not read back as the comparison: %v\n%s", err, js)
	}
	for _, key := range []string{`"rows"`, `"disagreements"`, `"flaky": []`, `"composeDifferences"`, `"unmeasured": 18`, `"differsFromCompose": true`} {
		if !bytes.Contains(js, []byte(key)) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

// TestWorkloadIDsMatchTheMatrix: the workload IDs Apply gives stand-ins (--workload, --probe) are the node IDs of
// agops check's matrix for the same manifests, so that Compare pairs them up.
func TestWorkloadIDsMatchTheMatrix(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "golden", "ai-lab-ha", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kube.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := reach.New(objs, reach.Options{})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]reach.Node{}
	for _, n := range cl.Matrix().Nodes {
		nodes[n.ID] = n
	}
	var ws []*workload
	for _, u := range objs {
		if w, err := decodeWorkload(u); err != nil {
			t.Fatal(err)
		} else if w != nil {
			ws = append(ws, w)
		}
	}
	nameWorkloads(ws)
	for _, w := range ws {
		if _, ok := nodes[w.id]; !ok {
			t.Errorf("workload %s is not a node of the matrix", w.id)
		}
	}
	out, _, err := Apply(objs, Options{HelperImage: helperImage})
	if err != nil {
		t.Fatal(err)
	}
	probes, err := ParseProbes(flagOf(t, out, "api", "probe"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probes {
		n, ok := nodes[p.Workload]
		if !ok || !slices.Contains(n.Ports, reach.Port{Port: p.Port, Protocol: p.Protocol, Name: portName(n, p.Port, p.Protocol)}) {
			t.Errorf("probe %s: port %d/%s is not a declared port of node %+v", p, p.Port, p.Protocol, n)
		}
	}
}

func portName(n reach.Node, port int32, proto string) string {
	for _, p := range n.Ports {
		if p.Port == port && p.Protocol == proto {
			return p.Name
		}
	}
	return ""
}

// flagOf is a flag of the stand-in of the workload's container of the same name.
func flagOf(t *testing.T, objs []*unstructured.Unstructured, name, flag string) string {
	t.Helper()
	for _, u := range objs {
		if w, _ := decodeWorkload(u); w != nil && w.obj.GetName() == name {
			v, _ := flagValue(container(t, w.spec.Containers, name).Args, flag)
			return v
		}
	}
	t.Fatalf("no workload %s", name)
	return ""
}

// TestCompareLeavesOutHostNetworkSources checks that a workload on its node's network is no source in the
// comparison, measured or predicted (a node reaches the pods on it whatever the policies say), yet stays a
// destination.
func TestCompareLeavesOutHostNetworkSources(t *testing.T) {
	t.Parallel()
	m := matrix()
	m.Nodes = append(m.Nodes, reach.Node{ID: "ns/monitor", Kind: "DaemonSet", HostNetwork: true, Ports: []reach.Port{{Port: 9100, Protocol: tcp}}})
	measured := Measure([]Report{
		report("ns/monitor", "monitor-a", 1, probe("ns/db", 5432, tcp, true, "")),
		report("ns/monitor", "monitor-b", 1, probe("ns/db", 5432, tcp, false, "refused")),
		report("ns/web", "web-1", 1, probe("ns/monitor", 9100, tcp, false, "timeout")),
	}, 1)
	c := Compare(m, measured, nil)
	to := false
	for _, r := range c.Rows {
		if r.From == "ns/monitor" {
			t.Errorf("row from the host-network workload: %+v", r)
		}
		to = to || (r.From == "ns/web" && r.To == "ns/monitor" && r.Measured == Closed)
	}
	if !to || len(c.Flaky) > 0 {
		t.Errorf("rows %+v, flaky %q: want web -> monitor measured closed and nothing flaky", c.Rows, c.Flaky)
	}
}
