package activities

import (
	"net/url"
	"os"
	"regexp"
	"strings"
)

// pgEnv maps libpq's environment variables to DSN keywords, in the order PostgresDSNFromEnv writes them.
var pgEnv = []struct{ env, key string }{
	{"PGHOST", "host"}, {"PGPORT", "port"}, {"PGUSER", "user"}, {"PGPASSWORD", "password"},
	{"PGDATABASE", "dbname"}, {"PGSSLMODE", "sslmode"},
}

// PostgresDSNFromEnv builds a key=value DSN from libpq's variables PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE and
// PGSSLMODE, so that Kubernetes can pass the password from a Secret in PGPASSWORD. ok is false when PGHOST is unset.
// The DSN holds the password: never print it (RedactDSN).
func PostgresDSNFromEnv() (dsn string, ok bool) {
	return dsnFromEnv(os.LookupEnv)
}

func dsnFromEnv(lookup func(string) (string, bool)) (string, bool) {
	if host, _ := lookup("PGHOST"); host == "" {
		return "", false
	}
	var parts []string
	for _, v := range pgEnv {
		if val, _ := lookup(v.env); val != "" {
			parts = append(parts, v.key+"="+quoteDSNValue(val))
		}
	}
	return strings.Join(parts, " "), true
}

// quoteDSNValue quotes a value for libpq's key=value form.
func quoteDSNValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

var (
	kvPassword = regexp.MustCompile(`(?i)\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]*)`)
	// urlPassword matches the userinfo of a URL that net/url cannot parse, up to its last @ (redacting too much
	// rather than too little).
	urlPassword = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*):(.*)@`)
)

// RedactDSN returns dsn with its password (in the userinfo, a password= parameter or a password= keyword) replaced
// by xxxxx.
func RedactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	if strings.Contains(dsn, "://") {
		dsn = urlPassword.ReplaceAllString(dsn, "${1}:xxxxx@")
	}
	return kvPassword.ReplaceAllString(dsn, "password=xxxxx")
}

// dsnPasswords returns the password dsn carries, as written and decoded, for scrubbing error messages.
func dsnPasswords(dsn string) []string {
	var out []string
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
		out = append(out, u.Query()["password"]...)
	} else if m := urlPassword.FindStringSubmatch(dsn); m != nil {
		out = append(out, m[2])
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		raw := m[1]
		out = append(out, raw, strings.NewReplacer(`\\`, `\`, `\'`, `'`).Replace(strings.Trim(raw, "'")))
	}
	return out
}

// redactedError is an error whose message has had secrets replaced; it still unwraps to the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr replaces every non-empty secret in err's message by xxxxx.
func redactErr(err error, secrets ...string) error {
	msg := err.Error()
	for _, s := range secrets {
		if s != "" && s != "''" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}
