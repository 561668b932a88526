package plan

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestIsCredential(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key, value string
		want             bool
	}{
		{"valid-password", "POSTGRES_PASSWORD", "example", true},
		{"valid-password-lowercase-name", "db_password", "example", true},
		{"valid-pwd", "MSSQL_SA_PWD", "example", true},
		{"valid-api-key", "API_KEY", "abc123", true},
		{"valid-token", "GITHUB_TOKEN", "ghp_x", true},
		{"valid-secret-key-base", "SECRET_KEY_BASE", "deadbeef", true},
		{"valid-dashed-name", "app-secret", "x", true},
		{"valid-url-with-password", "DATABASE_URL", "postgres://app:s3cret@db:5432/app", true},
		{"valid-url-with-password-any-name", "UPSTREAM", "amqp://guest:guest@rabbit/", true},
		// Redis URLs carry a password with an empty user name (redis://:PASSWORD@host).
		{"valid-url-with-password-empty-user", "REDIS_URL", "redis://:s3cret@cache:6379/0", true},
		{"invalid-password-file", "POSTGRES_PASSWORD_FILE", "/run/secrets/db_password", false},
		{"invalid-user", "POSTGRES_USER", "app", false},
		{"invalid-host", "DB_HOST", "db", false},
		{"invalid-token-ttl", "TOKEN_TTL", "3600", false},
		{"invalid-password-length", "PASSWORD_MIN_LENGTH", "12", false},
		{"invalid-plain-name", "LOG_LEVEL", "debug", false},
		{"invalid-url-without-password", "DATABASE_URL", "postgres://app@db:5432/app", false},
		{"invalid-url-with-port-only", "API_URL", "http://api:8080/v1", false},
		{"invalid-value-is-secret-path", "POSTGRES_PASSWORD", "/run/secrets/db_password", false},
		{"invalid-value-is-other-path", "APP_SECRET", "/etc/app/secret.key", false},
		{"invalid-empty-name", "", "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := isCredential(tt.key, tt.value); got != tt.want {
				t.Errorf("isCredential(%q, %q) = %v, want %v", tt.key, tt.value, got, tt.want)
			}
		})
	}
}

// TestQuoteWithVars runs each quoted word through sh, with the credential in the environment, and checks that the
// shell sees the original word while the quoted form holds no value.
func TestQuoteWithVars(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh on PATH")
	}
	creds := map[string]string{"DB_PASSWORD": "hunter22", "API_TOKEN": "hunter22-token"}
	keys := credentialKeys(creds)
	tests := []struct {
		name, word string
	}{
		{"valid-plain-word", "ping"},
		{"valid-empty-word", ""},
		{"valid-whole-value", "hunter22"},
		{"valid-longer-value-wins", "hunter22-token"},
		{"valid-value-inside", "-phunter22!"},
		{"valid-value-twice", "hunter22:hunter22"},
		{"valid-single-quote", "it's"},
		{"valid-single-quote-next-to-value", "'hunter22'"},
		{"valid-shell-metacharacters", "$HOME `id` \"x\" \\ ; | & * ?"},
		{"valid-newline", "a\nhunter22\nb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := quoteWithVars(tt.word, creds, keys)
			for k, v := range creds {
				if strings.Contains(q, v) {
					t.Errorf("quoteWithVars(%q) = %s still holds the value of %s", tt.word, q, k)
				}
			}
			env := []string{"DB_PASSWORD=hunter22", "API_TOKEN=hunter22-token"}
			if out := run(t, []string{"sh", "-c", "printf '[%s]' " + q}, env); out != "["+tt.word+"]" {
				t.Errorf("quoteWithVars(%q) = %s, which sh reads as %q", tt.word, q, out)
			}
		})
	}
}

func TestReplaceInArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		creds       map[string]string
		args        []string
		want        []string
		wantChanged bool
	}{
		{
			name:  "valid-flag-value",
			creds: map[string]string{"DB_PASSWORD": "hunter22"},
			args:  []string{"mysqladmin", "ping", "--password", "hunter22"},
			want:  []string{"mysqladmin", "ping", "--password", "$(DB_PASSWORD)"}, wantChanged: true,
		},
		{
			name:  "valid-value-inside-argument",
			creds: map[string]string{"DB_PASSWORD": "hunter22"},
			args:  []string{"--dsn=postgres://app:hunter22@db/app"},
			want:  []string{"--dsn=postgres://app:$(DB_PASSWORD)@db/app"}, wantChanged: true,
		},
		{
			name:  "valid-longest-value-first",
			creds: map[string]string{"A_PASSWORD": "abcd", "B_PASSWORD": "abcdefgh"},
			args:  []string{"abcdefgh", "abcd"},
			want:  []string{"$(B_PASSWORD)", "$(A_PASSWORD)"}, wantChanged: true,
		},
		{
			// A short value that is part of another variable's name must not be replaced inside the reference
			// already written for that variable: $(ADMIN_TOKEN) must stay intact.
			name:  "valid-value-inside-another-reference",
			creds: map[string]string{"ADMIN_PASSWORD": "ADMIN", "ADMIN_TOKEN": "tok-123456"},
			args:  []string{"--token", "tok-123456"},
			want:  []string{"--token", "$(ADMIN_TOKEN)"}, wantChanged: true,
		},
		{
			name:  "invalid-no-credential-in-args",
			creds: map[string]string{"DB_PASSWORD": "hunter22"},
			args:  []string{"serve", "--port", "8080"},
			want:  []string{"serve", "--port", "8080"},
		},
		{
			name:  "invalid-empty-args",
			creds: map[string]string{"DB_PASSWORD": "hunter22"},
			args:  nil,
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := slices.Clone(tt.args)
			got, changed := replaceInArgs(tt.args, tt.creds, credentialKeys(tt.creds))
			if !slices.Equal(got, tt.want) || changed != tt.wantChanged {
				t.Errorf("replaceInArgs(%q) = %q, %v; want %q, %v", tt.args, got, changed, tt.want, tt.wantChanged)
			}
			if !slices.Equal(tt.args, in) {
				t.Errorf("replaceInArgs modified its input: %q, was %q", tt.args, in)
			}
		})
	}
}

// TestReplaceInExecRunsInShell runs the rewritten command with /bin/sh, the credential set in the environment as
// the Secret would set it, and checks that the program sees exactly the original arguments.
func TestReplaceInExecRunsInShell(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh on PATH")
	}
	tests := []struct {
		name  string
		creds map[string]string
		cmd   []string
		// want is what the command prints; empty means the original command's output.
		want string
	}{
		{
			name:  "valid-exec-form",
			creds: map[string]string{"DB_PASSWORD": "hunter22"},
			cmd:   []string{"printf", "[%s]", "-u", "root", "-phunter22"},
		},
		{
			name:  "valid-exec-form-quotes-and-metacharacters",
			creds: map[string]string{"DB_PASSWORD": "hunter22"},
			cmd:   []string{"printf", "[%s]", "it's", "a 'quoted' word", "$HOME", "`id`", "\"x\"", "a\\b", "", "x;y|z&", "-phunter22"},
		},
		{
			name:  "valid-exec-form-value-with-quote-and-space",
			creds: map[string]string{"DB_PASSWORD": "pa'ss w$rd"},
			cmd:   []string{"printf", "[%s]", "--password=pa'ss w$rd", "pa'ss w$rd"},
		},
		{
			name:  "valid-exec-form-two-values",
			creds: map[string]string{"DB_PASSWORD": "hunter22", "API_TOKEN": "tok-0001"},
			cmd:   []string{"printf", "[%s]", "hunter22:tok-0001"},
		},
		{
			name:  "valid-shell-form",
			creds: map[string]string{"DB_PASSWORD": "hunter22"},
			cmd:   []string{"sh", "-c", `printf '[%s]' -phunter22 "pw=hunter22"`},
			want:  "[-phunter22][pw=hunter22]",
		},
		{
			// A value inside single quotes in a shell script: ${DB_PASSWORD} would not be expanded there.
			name:  "valid-shell-form-single-quoted-value",
			creds: map[string]string{"DB_PASSWORD": "hunter22"},
			cmd:   []string{"sh", "-c", `printf '[%s]' -p'hunter22'`},
			want:  "[-phunter22]",
		},
		{
			name:  "valid-shell-form-double-quoted-and-escaped",
			creds: map[string]string{"DB_PASSWORD": "hunter22"},
			cmd:   []string{"/bin/sh", "-c", `printf '[%s]' "a \"hunter22\" b" it\'s hunter22`},
			want:  `[a "hunter22" b][it's][hunter22]`,
		},
		{
			// A healthcheck like [ "$(redis-cli -a 'PASSWORD' ping)" = PONG ]: single quotes inside a command
			// substitution inside double quotes are quotes again.
			name:  "valid-shell-form-command-substitution-in-double-quotes",
			creds: map[string]string{"REDIS_PASSWORD": "hunter22"},
			cmd:   []string{"sh", "-c", `printf '[%s]' "$(printf '%s' 'hunter22')"`},
			want:  "[hunter22]",
		},
		{
			// The value is passed to the script as a positional parameter ($1), after the script.
			name:  "valid-shell-form-value-after-script",
			creds: map[string]string{"DB_PASSWORD": "hunter22"},
			cmd:   []string{"sh", "-c", `printf '[%s]' "$1"`, "sh", "hunter22"},
			want:  "[hunter22]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := tt.want
			if want == "" {
				want = run(t, tt.cmd, nil)
			}
			got, changed := replaceInExec(tt.cmd, tt.creds, credentialKeys(tt.creds))
			if !changed {
				t.Fatalf("replaceInExec(%q) reported no change", tt.cmd)
			}
			if !isShell(got) {
				t.Fatalf("replaceInExec(%q) = %q, want a sh -c command", tt.cmd, got)
			}
			if isShell(tt.cmd) {
				// command and args in shell form are rewritten the same way as exec probes.
				if args, _ := replaceInArgs(tt.cmd, tt.creds, credentialKeys(tt.creds)); !slices.Equal(args, got) {
					t.Errorf("replaceInArgs(%q) = %q, want %q as replaceInExec", tt.cmd, args, got)
				}
			}
			for k, v := range tt.creds {
				for _, word := range got {
					if strings.Contains(word, v) {
						t.Errorf("command %q still contains the value of %s", got, k)
					}
				}
			}
			var env []string
			for k, v := range tt.creds {
				env = append(env, k+"="+v)
			}
			if out := run(t, got, env); out != want {
				t.Errorf("command %q printed %q, want %q", got, out, want)
			}
		})
	}
}

func TestReplaceInExecUnchanged(t *testing.T) {
	t.Parallel()
	creds := map[string]string{"DB_PASSWORD": "hunter22"}
	cmd := []string{"pg_isready", "-U", "app"}
	got, changed := replaceInExec(cmd, creds, credentialKeys(creds))
	if changed || !slices.Equal(got, cmd) {
		t.Errorf("replaceInExec(%q) = %q, %v; want it unchanged", cmd, got, changed)
	}
}

// run runs argv (the first element through PATH) with only env set, and returns its standard output.
func run(t *testing.T, argv, env []string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}, env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("running %q: %v", argv, err)
	}
	return string(out)
}
