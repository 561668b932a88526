package configscan

import (
	"slices"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []HostPort
	}{
		{"valid-url-with-port", "http://api:8080/v1", []HostPort{{"api", 8080}}},
		{"valid-url-default-port-http", "http://web", []HostPort{{"web", 80}}},
		{"valid-url-default-port-https", "https://web/path", []HostPort{{"web", 443}}},
		{"valid-url-default-port-postgres", "postgres://db/app", []HostPort{{"db", 5432}}},
		{"valid-url-scheme-case", "REDIS://cache", []HostPort{{"cache", 6379}}},
		{"valid-url-userinfo-and-port", "postgresql://app:s3cret@db:5433/app?sslmode=disable", []HostPort{{"db", 5433}}},
		{"valid-url-userinfo-no-port", "mysql://root:pw@mysql/app", []HostPort{{"mysql", 3306}}},
		{"valid-url-empty-user", "redis://:pw@cache:6380/0", []HostPort{{"cache", 6380}}},
		{"valid-url-inside-jdbc", "jdbc:postgresql://db:5432/app", []HostPort{{"db", 5432}}},
		{"valid-multiple-hosts", "mongodb://a:1,b:2", []HostPort{{"a", 1}, {"b", 2}}},
		{"valid-multiple-hosts-userinfo", "mongodb://u:p@m1:27017,m2:27018/db?replicaSet=rs", []HostPort{{"m1", 27017}, {"m2", 27018}}},
		{"valid-bare-host-port", "db:5432", []HostPort{{"db", 5432}}},
		{"valid-bare-after-equals", "host=db:5432", []HostPort{{"db", 5432}}},
		{"valid-bare-list", "kafka-1:9092,kafka-2:9093", []HostPort{{"kafka-1", 9092}, {"kafka-2", 9093}}},
		{"valid-bare-in-url-query", "http://proxy/?upstream=app:3000", []HostPort{{"proxy", 80}, {"app", 3000}}},
		{"invalid-unknown-scheme-without-port", "foo://thing/x", nil},
		{"invalid-port-zero", "db:0", nil},
		{"invalid-port-too-large", "db:99999", nil},
		{"invalid-url-port-too-large", "http://db:70000", nil},
		{"invalid-no-port", "db", nil},
		{"invalid-model-tag", "llama3.2:3b", nil},
		{"invalid-empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Find(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("Find(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestSiblingPort(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name       string
		env        map[string]string
		key, value string
		want       int32
	}{
		{"valid-host-and-port", env("DB_HOST", "db", "DB_PORT", "5433"), "DB_HOST", "db", 5433},
		{"valid-hostname-suffix", env("REDIS_HOSTNAME", "cache", "REDIS_PORT", "6380"), "REDIS_HOSTNAME", "cache", 6380},
		{"valid-server-suffix", env("SMTP_SERVER", "mail", "SMTP_PORT", "2525"), "SMTP_SERVER", "mail", 2525},
		{"valid-address-suffix", env("API_ADDRESS", "api", "API_PORT", "9000"), "API_ADDRESS", "api", 9000},
		{"valid-seeds-suffix", env("POSTGRES_SEEDS", "postgres", "POSTGRES_PORT", "5432"), "POSTGRES_SEEDS", "postgres", 5432},
		{"valid-lowercase-names", env("db_host", "db", "db_port", "5433"), "db_host", "db", 5433},
		{"invalid-no-port-variable", env("DB_HOST", "db"), "DB_HOST", "db", 0},
		{"invalid-port-not-a-number", env("DB_HOST", "db", "DB_PORT", "fivefour"), "DB_HOST", "db", 0},
		{"invalid-port-out-of-range", env("DB_HOST", "db", "DB_PORT", "70000"), "DB_HOST", "db", 0},
		{"invalid-port-empty", env("DB_HOST", "db", "DB_PORT", ""), "DB_HOST", "db", 0},
		{"invalid-value-has-port", env("DB_HOST", "db:5432", "DB_PORT", "5433"), "DB_HOST", "db:5432", 0},
		{"invalid-value-is-url", env("DB_HOST", "http://db", "DB_PORT", "5433"), "DB_HOST", "http://db", 0},
		{"invalid-not-a-host-key", env("DB_NAME", "db", "DB_PORT", "5433"), "DB_NAME", "db", 0},
		{"invalid-other-prefix", env("DB_HOST", "db", "CACHE_PORT", "6379"), "DB_HOST", "db", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := SiblingPort(tt.env, tt.key, tt.value); got != tt.want {
				t.Errorf("SiblingPort(%s=%s) = %d, want %d", tt.key, tt.value, got, tt.want)
			}
		})
	}
}

func TestStripUserinfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"valid-user-and-password", "postgres://app:s3cret@db:5432/app", "postgres://db:5432/app"},
		{"valid-password-with-at", "postgres://app:p@ss@db:5432/app", "postgres://db:5432/app"},
		{"valid-password-with-slash", "postgres://app:pa/ss@db:5432/app", "postgres://db:5432/app"},
		{"valid-empty-user", "redis://:pw@cache:6379/0", "redis://cache:6379/0"},
		{"valid-two-urls", "http://a:x@h1 https://b:y@h2:8443", "http://h1 https://h2:8443"},
		{"valid-two-urls-no-space", "http://a:x@h1,http://b:y@h2", "http://h1,http://h2"},
		{"valid-no-userinfo", "http://api:8000/v1", "http://api:8000/v1"},
		{"valid-no-url", "user:pw@host", "user:pw@host"},
		{"valid-empty", "", ""},
		{"valid-trailing-scheme", "http://", "http://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := StripUserinfo(tt.in)
			if got != tt.want {
				t.Errorf("StripUserinfo(%q) = %q, want %q", tt.in, got, tt.want)
			}
			for _, secret := range []string{"s3cret", "p@ss", "pa/ss", "pw@", ":x@", ":y@"} {
				if strings.Contains(tt.in, "://") && strings.Contains(got, secret) {
					t.Errorf("StripUserinfo(%q) = %q still holds %q", tt.in, got, secret)
				}
			}
		})
	}
}

func TestCredentialName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		want bool
	}{
		{"POSTGRES_PASSWORD", true}, {"db_password", true}, {"MSSQL_SA_PWD", true}, {"API_KEY", true},
		{"GITHUB_TOKEN", true}, {"app-secret", true}, {"POSTGRES_PASSWORD_FILE", false}, {"TOKEN_TTL", false},
		{"PGPASSWORD", true}, {"OPENAIAPIKEY", true}, {"PGPASSFILE", false}, {"TOKENIZER", false},
		{"DB_HOST", false}, {"DATABASE_URL", false}, {"LOG_LEVEL", false}, {"", false},
	}
	for _, tt := range tests {
		if got := CredentialName(tt.key); got != tt.want {
			t.Errorf("CredentialName(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestSchemePort(t *testing.T) {
	t.Parallel()
	if p, ok := SchemePort("PostgreSQL"); !ok || p != 5432 {
		t.Errorf("SchemePort(PostgreSQL) = %d, %v; want 5432, true", p, ok)
	}
	if p, ok := SchemePort("gopher"); ok || p != 0 {
		t.Errorf("SchemePort(gopher) = %d, %v; want 0, false", p, ok)
	}
}

// FuzzScan: StripUserinfo leaves no user information in any URL (no '@' between a "://" and the next space or
// URL) and is idempotent; Find never panics and returns ports in range.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		"postgres://app:s3cret@db:5432/app", "redis://:p@ss/word@cache/0", "http://a:x@h1,http://b:y@h2 db:5432",
		"mongodb://u:p@m1:27017,m2:27018/db?replicaSet=rs", "://@", "x://", "@://@://@",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, hp := range Find(v) {
			if hp.Port < 1 || hp.Port > 65535 || hp.Host == "" {
				t.Fatalf("Find(%q) returned %+v", v, hp)
			}
		}
		got := StripUserinfo(v)
		if again := StripUserinfo(got); again != got {
			t.Fatalf("StripUserinfo is not idempotent on %q: %q, then %q", v, got, again)
		}
		for rest := got; ; {
			i := strings.Index(rest, "://")
			if i < 0 {
				break
			}
			rest = rest[i+3:]
			end := strings.IndexFunc(rest, isSpace)
			if end < 0 {
				end = len(rest)
			}
			if next := strings.Index(rest[:end], "://"); next >= 0 {
				end = next
			}
			if strings.Contains(rest[:end], "@") {
				t.Fatalf("StripUserinfo(%q) = %q keeps user information", v, got)
			}
		}
	})
}
