package report_test

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/report"
)

func d(service, key string, o model.Outcome, reason string) model.Decision {
	return model.Decision{Service: service, Key: key, Outcome: o, Reason: reason}
}

func sec(service, key string, o model.Outcome, reason string) model.Decision {
	x := d(service, key, o, reason)
	x.Security = true
	return x
}

// shop has two workloads (web with a sidecar service joined to its pod), project-level decisions and one Secret
// of each kind.
func shop(decisions ...model.Decision) *model.Project {
	return &model.Project{
		Name: "shop", Instance: "shop", Namespaces: []model.Namespace{{Name: "shop-ns", Tier: model.TierAILab, PodSecurity: model.PodSecurity{Enforce: "baseline"}}},
		Workloads: []model.Workload{
			{Name: "db", Service: "db", Namespace: "shop-ns", Kind: model.StatefulSet, Replicas: 1, HAReplicas: 1,
				Services: []model.Service{{Name: "db", Ports: []model.ServicePort{{Port: 5432, Protocol: model.TCP}}}}},
			{Name: "web", Service: "web", Namespace: "shop-ns", Kind: model.Deployment, Replicas: 1, HAReplicas: 2,
				Services: []model.Service{
					{Name: "web", Ports: []model.ServicePort{{Port: 80, Protocol: model.TCP}, {Port: 53, Protocol: model.UDP}}},
					{Name: "web-alias", Ports: []model.ServicePort{{Port: 8080, Protocol: model.TCP}}},
				}},
		},
		Secrets: []model.Secret{
			{Name: "db-env", Namespace: "shop-ns", Keys: []model.SecretKey{{Key: "POSTGRES_PASSWORD", Source: "environment of service db", Value: []byte("env-secret-value-1"), Known: true}}},
			{Name: "db-password", Namespace: "shop-ns", Keys: []model.SecretKey{{Key: "db_password", Source: "file ./secrets/db.txt", File: "/abs/secrets/db.txt", Value: []byte("file-secret-value-2\n"), Known: true}}},
			{Name: "api-key", Namespace: "shop-ns", Keys: []model.SecretKey{{Key: "api_key", Source: "environment variable API_KEY"}}},
			{Name: "vault-token", Namespace: "shop-ns", Keys: []model.SecretKey{{Key: "token", Source: "external secret"}}, External: true},
		},
		Decisions: decisions,
	}
}

func TestBuildCounts(t *testing.T) {
	t.Parallel()
	p := shop(
		d("", "networks.front", model.Approximated, "pods share the cluster network"),
		d("", "volumes.unused", model.Dropped, "no selected service mounts it"),
		d("db", "image", model.Mapped, "container image postgres"),
		d("db", "volumes[0]", model.Mapped, "PersistentVolumeClaim data"),
		d("db", "user", model.NeedsInput, "user is a name"),
		d("sidecar", "network_mode", model.Mapped, "shares the network namespace of web"),
		d("web", "image", model.Mapped, "container image nginx"),
		d("web", "labels", model.Dropped, "labels do not carry over"),
		sec("web", "privileged", model.NeedsInput, "privileged container"),
		d("web", "healthcheck", model.Approximated, "probes"),
	)
	r := report.Build(p, []string{"compose.yaml"}, "/abs")
	if r.Project != "shop" || len(r.Namespaces) != 1 || r.Namespaces[0].Name != "shop-ns" || len(r.Namespaces[0].Services) != 2 {
		t.Errorf("project %q namespaces %+v, want shop with shop-ns holding db and web", r.Project, r.Namespaces)
	}
	if want := (report.Counts{Mapped: 4, Approximated: 2, Dropped: 2, NeedsInput: 2}); r.Summary != want {
		t.Errorf("summary = %+v, want %+v", r.Summary, want)
	}
	if len(r.ProjectKeys) != 2 || r.ProjectKeys[0].Key != "networks.front" {
		t.Errorf("project decisions = %+v, want the two project-level ones", r.ProjectKeys)
	}
	if len(r.Security) != 1 || r.Security[0].Key != "privileged" {
		t.Errorf("security findings = %+v, want privileged", r.Security)
	}
	if len(r.Needs) != 2 {
		t.Errorf("needs input = %+v, want 2", r.Needs)
	}
	var names []string
	for _, s := range r.Services {
		names = append(names, s.Service)
	}
	if !slices.Equal(names, []string{"db", "sidecar", "web"}) {
		t.Fatalf("services = %q, want db sidecar web", names)
	}
	tests := []report.Service{
		{Service: "db", Workload: "db", Namespace: "shop-ns", Kind: "StatefulSet", Replicas: 1, HAReplicas: 1, Ports: []string{"5432/TCP"},
			Counts: report.Counts{Mapped: 2, NeedsInput: 1}},
		{Service: "sidecar", Kind: "container in a shared pod", Counts: report.Counts{Mapped: 1}},
		{Service: "web", Workload: "web", Namespace: "shop-ns", Kind: "Deployment", Replicas: 1, HAReplicas: 2, Ports: []string{"80/TCP", "53/UDP"},
			Counts: report.Counts{Mapped: 1, Approximated: 1, Dropped: 1, NeedsInput: 1}},
	}
	for i, want := range tests {
		got := r.Services[i]
		got.Decisions = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("service %d = %+v, want %+v", i, got, want)
		}
	}
	total := len(r.ProjectKeys)
	for _, s := range r.Services {
		total += len(s.Decisions)
	}
	if total != len(p.Decisions) {
		t.Errorf("the report holds %d decisions, the model %d", total, len(p.Decisions))
	}
}

func TestBuildVerdict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		decisions []model.Decision
		want      string
	}{
		{"valid-ready", []model.Decision{d("web", "image", model.Mapped, "x"), d("web", "labels", model.Dropped, "x")}, report.VerdictReady},
		{"valid-ready-empty", nil, report.VerdictReady},
		{"valid-approximated-security-is-review", []model.Decision{sec("web", "volumes[0]", model.Approximated, "hostPath")}, report.VerdictSecurity},
		{"invalid-needs-input", []model.Decision{d("web", "user", model.NeedsInput, "x")}, report.VerdictNeedsInput},
		{"invalid-project-needs-input", []model.Decision{d("", "models.llm", model.NeedsInput, "x")}, report.VerdictNeedsInput},
		{"invalid-both", []model.Decision{d("web", "user", model.NeedsInput, "x"), sec("db", "pid", model.NeedsInput, "x")}, report.VerdictNeedsReview},
		{"invalid-both-separate", []model.Decision{d("web", "user", model.NeedsInput, "x"), sec("db", "volumes[0]", model.Approximated, "x")}, report.VerdictNeedsReview},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := report.Build(shop(tt.decisions...), []string{"compose.yaml"}, "/abs")
			if r.Verdict != tt.want {
				t.Errorf("verdict = %q, want %q", r.Verdict, tt.want)
			}
			if !strings.Contains(r.Line(), "verdict: "+tt.want) {
				t.Errorf("Line() = %q, does not give the verdict", r.Line())
			}
			if !strings.Contains(string(r.Markdown()), "**Verdict: "+tt.want+".**") {
				t.Errorf("Markdown does not give the verdict %q", tt.want)
			}
		})
	}
}

func TestBuildSecretRefs(t *testing.T) {
	t.Parallel()
	r := report.Build(shop(), []string{"compose.yaml", "compose.prod.yaml"}, "/abs")
	want := []report.SecretRef{
		{Name: "db-env", Namespace: "shop-ns", Keys: []string{"POSTGRES_PASSWORD"}, Sources: []string{"environment of service db"}, Known: true,
			Create: "agops secrets -f compose.yaml -f compose.prod.yaml | kubectl apply -f -"},
		{Name: "db-password", Namespace: "shop-ns", Keys: []string{"db_password"}, Sources: []string{"file ./secrets/db.txt"}, Known: true,
			Create: "kubectl create secret generic db-password -n shop-ns --from-file=db_password=secrets/db.txt"},
		{Name: "api-key", Namespace: "shop-ns", Keys: []string{"api_key"}, Sources: []string{"environment variable API_KEY"}, Known: false,
			Create: "agops secrets -f compose.yaml -f compose.prod.yaml | kubectl apply -f -"},
		{Name: "vault-token", Namespace: "shop-ns", Keys: []string{"token"}, Sources: []string{"external secret"}, Known: false,
			Create: "external: must already exist in namespace shop-ns"},
	}
	if !reflect.DeepEqual(r.Secrets, want) {
		t.Errorf("secrets = %+v\nwant %+v", r.Secrets, want)
	}
	if !strings.Contains(r.Line(), "4 Secrets to create") {
		t.Errorf("Line() = %q, want it to mention the 4 Secrets", r.Line())
	}
}

// TestBuildSecretFilePath: the --from-file path is relative to the folder the user runs the command in when the
// file lies below it, absolute otherwise.
func TestBuildSecretFilePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, workDir, want string
	}{
		{"valid-below-workdir", "/abs", "secrets/db.txt"},
		{"valid-workdir-is-folder", "/abs/secrets", "db.txt"},
		{"valid-no-workdir", "", "/abs/secrets/db.txt"},
		{"valid-outside-workdir", "/elsewhere", "/abs/secrets/db.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := report.Build(shop(), []string{"compose.yaml"}, tt.workDir)
			want := "kubectl create secret generic db-password -n shop-ns --from-file=db_password=" + tt.want
			if got := r.Secrets[1].Create; got != want {
				t.Errorf("create = %q, want %q", got, want)
			}
		})
	}
}

// TestNoSecretValues: values held in the model reach neither report.json nor report.md, in any common encoding.
func TestNoSecretValues(t *testing.T) {
	t.Parallel()
	p := shop(d("db", "environment", model.Mapped, "credentials POSTGRES_PASSWORD go to Secret db-env"),
		d("", "secrets.db_password", model.Mapped, "Secret db-password from ./secrets/db.txt"))
	r := report.Build(p, []string{"compose.yaml"}, "/abs")
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{"report.json": string(js), "report.md": string(r.Markdown()), "summary": r.Line()}
	for _, s := range p.Secrets {
		for _, k := range s.Keys {
			if len(k.Value) == 0 {
				continue
			}
			for _, v := range []string{string(k.Value), strings.TrimSpace(string(k.Value)), base64.StdEncoding.EncodeToString(k.Value)} {
				for name, out := range outputs {
					if strings.Contains(out, v) {
						t.Errorf("%s contains the value of %s/%s", name, s.Name, k.Key)
					}
				}
			}
		}
	}
	// The JSON form has no field that could carry a value.
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	for _, s := range back["secrets"].([]any) {
		for field := range s.(map[string]any) {
			if !slices.Contains([]string{"name", "namespace", "keys", "sources", "valueKnown", "create"}, field) {
				t.Errorf("secret ref has field %q", field)
			}
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	r := report.Build(shop(d("web", "image", model.Mapped, "x"), sec("web", "pid", model.NeedsInput, "y")), []string{"compose.yaml"}, "/abs")
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(js), "}\n") {
		t.Errorf("report.json does not end with a newline")
	}
	var back report.Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("report.json does not read back as the report:\n%+v\n%+v", back, r)
	}
}

// TestMarkdownCells: a | or a newline in any value stays inside its table cell.
func TestMarkdownCells(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		d    model.Decision
	}{
		{"valid-plain", model.Decision{Service: "web", Key: "image", Outcome: model.Mapped, Reason: "container image nginx"}},
		{"valid-pipe-in-reason", model.Decision{Service: "web", Key: "command", Outcome: model.Mapped, Reason: "runs a | b"}},
		{"valid-pipe-in-hint", model.Decision{Service: "web", Key: "user", Outcome: model.NeedsInput, Reason: "x", Hint: "use a|b"}},
		{"valid-newline-in-reason", model.Decision{Service: "web", Key: "command", Outcome: model.Mapped, Reason: "line one\nline two"}},
		{"valid-security-pipe", model.Decision{Service: "web", Key: "pid", Outcome: model.NeedsInput, Reason: "a|b", Hint: "c|d", Security: true}},
		// Environment variable names are free-form in Compose; the decision key carries them.
		{"valid-pipe-in-key", model.Decision{Service: "web", Key: "environment.A|B", Outcome: model.NeedsInput, Reason: "x"}},
		{"valid-pipe-in-project-key", model.Decision{Key: "networks.a|b", Outcome: model.Approximated, Reason: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := shop(tt.d)
			p.Secrets[0].Keys[0].Source = "environment of service db | cache"
			md := string(report.Build(p, []string{"compose.yaml"}, "/abs").Markdown())
			checkTables(t, md)
		})
	}
}

// checkTables checks that every row of every table has as many cells as its header.
func checkTables(t *testing.T, md string) {
	t.Helper()
	cells := -1
	for i, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cells = -1
			continue
		}
		n := countCells(line)
		if cells < 0 {
			cells = n
			continue
		}
		if n != cells {
			t.Errorf("line %d has %d cells, the table %d: %s", i+1, n, cells, line)
		}
	}
}

// countCells counts the cells of a table row: unescaped | separators minus one.
func countCells(line string) int {
	n := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '|':
			n++
		}
	}
	return n - 1
}

func TestMarkdownSections(t *testing.T) {
	t.Parallel()
	r := report.Build(shop(
		d("", "volumes.unused", model.Dropped, "no selected service mounts it"),
		sec("web", "privileged", model.NeedsInput, "privileged container"),
		d("db", "user", model.NeedsInput, "user is a name"),
		d("", "models.llm", model.NeedsInput, "needs a model runner"),
	), []string{"compose.yaml"}, "/abs")
	md := string(r.Markdown())
	order := []string{"# Migration report: shop", "## Security findings", "## Needs input", "## Secrets to create", "## Services",
		"## Project-level keys", "## db", "## web"}
	last := -1
	for _, h := range order {
		i := strings.Index(md, h+"\n")
		if i < 0 {
			t.Errorf("report.md has no %q", h)
			continue
		}
		if i < last {
			t.Errorf("%q comes too early", h)
		}
		last = i
	}
	if !strings.Contains(md, "| (project) | models.llm | needs-input |") {
		t.Errorf("the needs-input table does not name the project-level decision (project):\n%s", md)
	}
	if !strings.Contains(md, "| web | web | shop-ns | Deployment | 1 / 2 | 80/TCP 53/UDP |") {
		t.Errorf("services table has no row for web:\n%s", md)
	}
}
