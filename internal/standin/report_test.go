package standin

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func sampleReport(pod string, round int) Report {
	return Report{
		Pod: pod, Namespace: "shop", Workload: "shop/api", Container: "api", Round: round,
		Time:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(round) * time.Second),
		Listening: []string{"8000/TCP"},
		Results: []Result{
			{Target: "postgres:5432", Source: "config:DATABASE_URL", Port: 5432, Protocol: tcp, OK: true, Ms: 2},
			{Target: "db.shop.svc.cluster.local:5432", Source: "probe", Workload: "shop/db", Port: 5432, Protocol: tcp, Error: "timeout", Ms: 1000},
		},
		Self: []Result{{Target: "localhost:8000", Source: "config:args", Port: 8000, Protocol: tcp, OK: true}},
	}
}

func line(t *testing.T, r Report) string {
	t.Helper()
	b, err := r.Line()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseLogRoundTrip(t *testing.T) {
	t.Parallel()
	want := sampleReport("api-7d9f-abcde", 3)
	got, err := ParseLog(strings.NewReader(line(t, want)))
	if err != nil || len(got) != 1 {
		t.Fatalf("ParseLog = %v, %v; want one report", got, err)
	}
	if line(t, got[0]) != line(t, want) {
		t.Errorf("round trip changed the report:\n got %s\nwant %s", line(t, got[0]), line(t, want))
	}
}

// TestParseLogKubectlForms: kubectl logs --timestamps and --prefix put text before the report; other lines (the
// stand-in's own log, a user's) are not reports.
func TestParseLogKubectlForms(t *testing.T) {
	t.Parallel()
	log := "time=2026-01-02T03:04:05Z level=WARN msg=\"stand-in check socket\" err=boom\n" +
		"2026-01-02T03:04:06.123456789Z " + line(t, sampleReport("a", 1)) +
		"[pod/b/api] " + line(t, sampleReport("b", 2)) +
		"agops-standin is not followed by a report here\n" +
		"\n"
	got, err := ParseLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Pod != "a" || got[1].Pod != "b" || got[1].Round != 2 {
		t.Errorf("ParseLog = %+v; want the reports of a (round 1) and b (round 2)", got)
	}
}

func TestParseLogKeepsLastReportPerContainer(t *testing.T) {
	t.Parallel()
	other := sampleReport("a", 1)
	other.Container = "sidecar"
	log := line(t, sampleReport("a", 1)) + line(t, sampleReport("b", 5)) + line(t, sampleReport("a", 4)) +
		line(t, sampleReport("a", 2)) + line(t, other) + line(t, sampleReport("b", 3))
	got, err := ParseLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range got {
		keys = append(keys, r.Pod+"/"+r.Container+"#"+string(rune('0'+r.Round)))
	}
	if want := "a/api#4 a/sidecar#1 b/api#5"; strings.Join(keys, " ") != want {
		t.Errorf("ParseLog kept %v, want %s", keys, want)
	}
}

// TestParseLogTieKeepsLaterLine: a restarted container counts rounds from 1 again; of two reports with the same
// round the later line is the newer.
func TestParseLogTieKeepsLaterLine(t *testing.T) {
	t.Parallel()
	first, second := sampleReport("a", 1), sampleReport("a", 1)
	second.Results[1].OK, second.Results[1].Error = true, ""
	got, err := ParseLog(strings.NewReader(line(t, first) + line(t, second)))
	if err != nil || len(got) != 1 || !got[0].Results[1].OK {
		t.Errorf("ParseLog = %+v, %v; want the second report", got, err)
	}
}

func TestParseLogErrors(t *testing.T) {
	t.Parallel()
	good := line(t, sampleReport("good", 1))
	tests := []struct {
		name, line, want string
	}{
		{"invalid-json", `agops-standin {"pod":`, "line 2: stand-in report: unexpected end of JSON input"},
		{"invalid-trailing-data", `agops-standin {"pod":"x","round":1} {}`, "line 2: stand-in report: invalid character"},
		{"invalid-no-pod", `agops-standin {"round":1}`, "no pod"},
		{"invalid-round", `agops-standin {"pod":"x","round":0}`, "round 0"},
		{"invalid-wrong-type", `agops-standin {"pod":"x","round":"1"}`, "cannot unmarshal string"},
		{"invalid-port", `agops-standin {"pod":"x","round":1,"results":[{"target":"a:1","source":"probe","port":70000,"protocol":"TCP","ok":true}]}`, "results[0]: target \"a:1\": port 70000"},
		{"invalid-protocol", `agops-standin {"pod":"x","round":1,"results":[{"target":"a:1","source":"probe","port":1,"protocol":"SCTP","ok":true}]}`, "protocol \"SCTP\""},
		{"invalid-no-target", `agops-standin {"pod":"x","round":1,"self":[{"source":"probe","port":1,"protocol":"TCP","ok":true}]}`, "self[0]: no target"},
		{"invalid-failure-without-error", `agops-standin {"pod":"x","round":1,"results":[{"target":"a:1","source":"probe","port":1,"protocol":"TCP","ok":false}]}`, "failed without an error"},
		{"invalid-negative-ms", `agops-standin {"pod":"x","round":1,"results":[{"target":"a:1","source":"probe","port":1,"protocol":"TCP","ok":true,"ms":-1}]}`, "negative duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseLog(strings.NewReader(good + tt.line + "\n"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseLog error = %v, want one containing %q", err, tt.want)
			}
			if len(got) != 1 || got[0].Pod != "good" {
				t.Errorf("ParseLog returned %+v beside the error; want the well-formed report", got)
			}
		})
	}
}

func TestParseLogLongLine(t *testing.T) {
	t.Parallel()
	_, err := ParseLog(strings.NewReader(LogPrefix + "{" + strings.Repeat(" ", maxLine) + "}\n"))
	if err == nil || !strings.Contains(err.Error(), "reading log") {
		t.Errorf("ParseLog of a line over %d bytes: error = %v, want a reading error", maxLine, err)
	}
}

// FuzzParseLog: ParseLog never panics, returns only reports that validate, and a returned report written again
// reads back the same.
func FuzzParseLog(f *testing.F) {
	r := sampleReport("a", 1)
	b, _ := r.Line()
	f.Add(string(b))
	f.Add("[pod/x/y] " + string(b) + "garbage\nagops-standin {\"pod\":\"p\",\"round\":2}\n")
	f.Add("agops-standin {\"pod\":\"p\",\"round\":1,\"results\":[{\"target\":\"a:1\",\"source\":\"probe\",\"port\":1,\"protocol\":\"UDP\",\"ok\":true,\"ms\":3}]}")
	f.Fuzz(func(t *testing.T, log string) {
		reports, _ := ParseLog(strings.NewReader(log))
		for _, r := range reports {
			if err := r.validate(); err != nil {
				t.Fatalf("ParseLog returned an invalid report: %v", err)
			}
			b, err := r.Line()
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParseLog(bytes.NewReader(b))
			if err != nil || len(again) != 1 {
				t.Fatalf("a returned report does not read back: %v (%s)", err, b)
			}
			if b2, _ := again[0].Line(); !bytes.Equal(b, b2) {
				t.Fatalf("round trip changed the report:\n%s\n%s", b, b2)
			}
		}
	})
}
