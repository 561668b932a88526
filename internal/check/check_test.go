package check

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/kube"
)

func findingsOf(t *testing.T, f *fixture, opts ...Option) []Finding {
	t.Helper()
	fs, err := Run(f.objects(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestIgnoreAnnotation(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.app().Image = "nginx"
	f.ns.Labels = nil
	if got := rulesOf(findingsOf(t, f)); !reflect.DeepEqual(got, []string{rulePodSecurityMissing, ruleImageLatest}) {
		t.Fatalf("before: %v", got)
	}
	f.dep.Annotations = map[string]string{IgnoreAnnotation: "image-latest"}
	f.ns.Annotations = map[string]string{IgnoreAnnotation: "pod-security-label-missing"}
	if got := findingsOf(t, f); len(got) != 0 {
		t.Errorf("annotations did not suppress: %v", rulesOf(got))
	}
}

func TestSkip(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.app().Image = "nginx"
	if got := findingsOf(t, f, Skip(ruleImageLatest)); len(got) != 0 {
		t.Errorf("Skip did not drop: %v", rulesOf(got))
	}
	if _, err := Run(f.objects(t), Skip("image-latest", "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown rule in Skip: got %v", err)
	}
}

// TestOrderIsStable: the findings do not depend on the order of the objects.
func TestOrderIsStable(t *testing.T) {
	t.Parallel()
	data := readFile(t, "testdata/golden/lab.yaml")
	objs, err := kube.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Run(objs)
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(1); seed <= 5; seed++ {
		shuffled := append([]*unstructured.Unstructured(nil), objs...)
		r := rand.New(rand.NewPCG(seed, seed))
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got, err := Run(shuffled)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: order changed the findings", seed)
		}
	}
}

func TestUndecodableObject(t *testing.T) {
	t.Parallel()
	objs, err := kube.Decode([]byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: broken, namespace: lab}
spec: {replicas: many}
---
apiVersion: v1
kind: Namespace
metadata: {name: lab}
---
apiVersion: v1
kind: Service
metadata: {name: odd, namespace: lab}
spec: {ports: {port: 80}}
`))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Run(append(objs, nil, &unstructured.Unstructured{}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"Deployment lab/broken", "spec.replicas", "Service lab/odd"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if got := rulesOf(fs); !reflect.DeepEqual(got, []string{rulePodSecurityMissing}) {
		t.Errorf("want the decodable Namespace checked, got %v", got)
	}
}

func TestSeverity(t *testing.T) {
	t.Parallel()
	if !(Info < Warning && Warning < Error) {
		t.Fatal("severities out of order")
	}
	for _, s := range []Severity{Info, Warning, Error} {
		got, err := ParseSeverity(strings.ToUpper(s.String()))
		if err != nil || got != s {
			t.Errorf("ParseSeverity(%q) = %v, %v", s, got, err)
		}
		b, _ := json.Marshal(s)
		var back Severity
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("JSON round trip of %s: %s → %v, %v", s, b, back, err)
		}
	}
	if _, err := ParseSeverity("fatal"); err == nil {
		t.Error("ParseSeverity(fatal): want an error")
	}
	if _, err := json.Marshal(Severity(0)); err == nil {
		t.Error("marshalling the zero severity: want an error")
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	warn := newFinding(rulePDBMissing, Ref{Kind: "Deployment", Namespace: "lab", Name: "app"}, "runs 2 replicas")
	info := newFinding(ruleWritableRootFS, Ref{Kind: "Deployment", Namespace: "lab", Name: "app"}, "is writable")
	r := Report{Findings: []Finding{warn, info}, Sections: []Section{{Name: "reachability", Text: "web -> api: allowed\n", Data: map[string]bool{"web->api": true}}}}
	for _, c := range []struct {
		failOn Severity
		want   bool
	}{{Info, true}, {Warning, true}, {Error, false}} {
		if got := r.Exceeds(c.failOn); got != c.want {
			t.Errorf("Exceeds(%s) = %v", c.failOn, got)
		}
	}
	var b bytes.Buffer
	if err := r.Text(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"warning  pdb-missing       Deployment lab/app runs 2 replicas\n", "\nreachability\nweb -> api: allowed\n", "\n0 errors, 1 warning, 1 info\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Version  int
		Summary  Summary
		Findings []Finding
		Sections map[string]map[string]bool
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.Version != 1 || back.Summary != (Summary{Warnings: 1, Info: 1}) || !reflect.DeepEqual(back.Findings, r.Findings) || !back.Sections["reachability"]["web->api"] {
		t.Errorf("JSON round trip: %s", js)
	}
	r.Sections = append(r.Sections, Section{Name: "reachability"})
	if _, err := r.JSON(); err == nil {
		t.Error("two sections of one name: want an error")
	}
}

func TestEmptyReport(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := (Report{}).Text(&b); err != nil || b.String() != "no findings\n" {
		t.Errorf("text %q, %v", b.String(), err)
	}
	js, err := Report{}.JSON()
	if err != nil || !strings.Contains(string(js), `"findings": []`) || strings.Contains(string(js), "sections") {
		t.Errorf("json %s, %v", js, err)
	}
	if (Report{}).Exceeds(Info) {
		t.Error("an empty report exceeds nothing")
	}
}

// stubMatrix stands in for reach.Matrix.
type stubMatrix struct{}

func (stubMatrix) Text(w io.Writer) error {
	_, err := io.WriteString(w, "FROM  TO   PORTS\nweb   api  8000/TCP\n")
	return err
}
func (stubMatrix) JSON() ([]byte, error) {
	return []byte(`{"edges": [{"from": "web", "to": "api"}]}` + "\n"), nil
}

func TestSectionOf(t *testing.T) {
	t.Parallel()
	s, err := SectionOf("reachability", stubMatrix{})
	if err != nil {
		t.Fatal(err)
	}
	r := Report{Sections: []Section{s}}
	var b bytes.Buffer
	if err := r.Text(&b); err != nil {
		t.Fatal(err)
	}
	if want := "reachability\nFROM  TO   PORTS\nweb   api  8000/TCP\n\nno findings\n"; b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"sections": {
    "reachability": {
      "edges": [`) {
		t.Errorf("json: %s", js)
	}
}
