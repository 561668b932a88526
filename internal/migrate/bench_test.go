package migrate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/plan"
)

// genProject writes a Compose project of n services shaped like real stacks: every tenth a database with a
// volume and a healthcheck, every tenth+1 a web frontend with a published port, the rest API workers that reach
// their group's database by URL and depend on it being healthy, plus a one-shot migration per group.
func genProject(tb testing.TB, n int) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("name: bench\nservices:\n")
	var volumes []string
	for i := 0; i < n; i++ {
		group := i / 10
		db := fmt.Sprintf("db%d", group)
		switch i % 10 {
		case 0:
			fmt.Fprintf(&b, "  %s:\n    image: postgres:17\n    volumes: [\"data%d:/var/lib/postgresql/data\"]\n", db, group)
			b.WriteString("    environment:\n      POSTGRES_PASSWORD: bench-password\n")
			b.WriteString("    healthcheck:\n      test: [\"CMD-SHELL\", \"pg_isready\"]\n      interval: 5s\n")
			volumes = append(volumes, fmt.Sprintf("data%d", group))
		case 1:
			fmt.Fprintf(&b, "  web%d:\n    image: nginx:1.27\n    ports: [\"%d:80\"]\n", i, 10000+i)
			fmt.Fprintf(&b, "    depends_on:\n      api%d:\n        condition: service_started\n", i+2)
		case 2:
			fmt.Fprintf(&b, "  migrate%d:\n    image: ghcr.io/example/app:1.0\n    command: migrate up\n    restart: \"no\"\n", group)
			fmt.Fprintf(&b, "    depends_on:\n      %s:\n        condition: service_healthy\n", db)
		default:
			fmt.Fprintf(&b, "  api%d:\n    image: ghcr.io/example/api:1.0\n    expose: [\"8000\"]\n", i)
			fmt.Fprintf(&b, "    environment:\n      DATABASE_URL: postgres://app:pw@%s:5432/app\n      LOG_LEVEL: info\n", db)
			fmt.Fprintf(&b, "    deploy:\n      resources:\n        limits: {cpus: \"0.5\", memory: 256m}\n")
			fmt.Fprintf(&b, "    depends_on:\n      %s:\n        condition: service_healthy\n      migrate%d:\n        condition: service_completed_successfully\n", db, group)
		}
	}
	b.WriteString("volumes:\n")
	for _, v := range volumes {
		fmt.Fprintf(&b, "  %s: {}\n", v)
	}
	dir := tb.TempDir()
	path := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkMigrate measures load → plan → render → write of generated projects. maxRSS-MB is the process's
// peak resident memory so far (an upper bound for the largest size run in the same process).
func BenchmarkMigrate(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			file := genProject(b, n)
			out := filepath.Join(b.TempDir(), "out")
			b.ReportAllocs()
			for b.Loop() {
				o := Options{Plan: plan.DefaultOptions(), Format: FormatFiles, Out: out, Stdout: io.Discard}
				o.Compose.Files = []string{file}
				if _, err := Run(context.Background(), o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(maxRSSMB(), "maxRSS-MB")
		})
	}
}

// BenchmarkMigrateStream is the same work without the disk: the ha overlay as one stream, as --format yaml does.
func BenchmarkMigrateStream(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			file := genProject(b, n)
			b.ReportAllocs()
			for b.Loop() {
				o := Options{Plan: plan.DefaultOptions(), Format: FormatYAML, Overlay: "ha", Stdout: io.Discard}
				o.Compose.Files = []string{file}
				if _, err := Run(context.Background(), o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(maxRSSMB(), "maxRSS-MB")
		})
	}
}

// BenchmarkLoad measures compose-go's share: loading the project alone.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			file := genProject(b, n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := compose.Load(context.Background(), compose.Options{Files: []string{file}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestGeneratedProjectMigrates checks the benchmark input itself is valid, so the benchmark measures real work.
func TestGeneratedProjectMigrates(t *testing.T) {
	t.Parallel()
	o := Options{Plan: plan.DefaultOptions(), Format: FormatFiles, Out: filepath.Join(t.TempDir(), "out"), Stdout: io.Discard}
	o.Compose.Files = []string{genProject(t, 100)}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(res.Model.Workloads); got != 100 {
		t.Fatalf("got %d workloads, want 100", got)
	}
}

func maxRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
