// Package configscan reads what configuration values say about the network: the addresses a value names (URLs
// with their scheme's default port, bare host:port, a DB_HOST beside a DB_PORT) and whether a variable's name marks
// a credential. It is pure string work, shared by internal/plan (which infers the ports peers use) and
// internal/standin (which dials the addresses a container's configuration names).
package configscan

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// HostPort is an address a value names.
type HostPort struct {
	Host string
	Port int32
}

// String is "host:port".
func (h HostPort) String() string { return h.Host + ":" + strconv.Itoa(int(h.Port)) }

var (
	urlRef  = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*)://(?:[^@/\s]*@)?([A-Za-z0-9_.-]+)(?::(\d{1,5}))?`)
	bareRef = regexp.MustCompile(`(?:^|[\s,;=/"'(\[@])([A-Za-z0-9][A-Za-z0-9_.-]*):(\d{1,5})\b`)
)

// schemePorts are the default ports of URL schemes peers use without a port.
var schemePorts = map[string]int32{
	"http": 80, "https": 443, "ws": 80, "wss": 443, "postgres": 5432, "postgresql": 5432, "mysql": 3306,
	"mariadb": 3306, "redis": 6379, "rediss": 6379, "mongodb": 27017, "amqp": 5672, "amqps": 5671, "nats": 4222,
	"kafka": 9092, "memcached": 11211, "mqtt": 1883, "ldap": 389, "smtp": 25, "ftp": 21,
}

// SchemePort is the default port of a URL scheme (case-insensitive), if agops knows it.
func SchemePort(scheme string) (int32, bool) {
	p, ok := schemePorts[strings.ToLower(scheme)]
	return p, ok
}

// Find returns the addresses a value names, in order: URLs (with the scheme's default port when they have none),
// then bare host:port. Ports outside 1-65535 and URLs of unknown schemes without a port are skipped. Find does not
// judge the host: "12:30" is host "12", port 30.
func Find(v string) []HostPort {
	var out []HostPort
	for _, m := range urlRef.FindAllStringSubmatch(v, -1) {
		port, _ := SchemePort(m[1])
		if m[3] != "" {
			n, _ := strconv.Atoi(m[3])
			port = int32(n)
		}
		if port > 0 && port <= 65535 {
			out = append(out, HostPort{Host: m[2], Port: port})
		}
	}
	masked := urlRef.ReplaceAllString(v, " ")
	for _, m := range bareRef.FindAllStringSubmatch(masked, -1) {
		n, _ := strconv.Atoi(m[2])
		if n > 0 && n <= 65535 {
			out = append(out, HostPort{Host: m[1], Port: int32(n)})
		}
	}
	return out
}

// hostSuffixes are the variable name endings that mark a host whose port a sibling _PORT variable holds.
var hostSuffixes = []string{"_HOST", "_HOSTNAME", "_SERVER", "_ADDR", "_ADDRESS", "_SEEDS"}

// SiblingPort reads DB_PORT when the variable key (DB_HOST, or _HOSTNAME, _SERVER, _ADDR, _ADDRESS, _SEEDS) holds
// a plain host name value; names compare case-insensitively. It returns 0 when there is no such port.
func SiblingPort(env map[string]string, key, value string) int32 {
	if strings.ContainsAny(value, ":/ ,") {
		return 0
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, suffix := range hostSuffixes {
		prefix, ok := strings.CutSuffix(strings.ToUpper(key), suffix)
		if !ok {
			continue
		}
		for _, k := range keys {
			if !strings.EqualFold(k, prefix+"_PORT") {
				continue
			}
			if n, err := strconv.Atoi(env[k]); err == nil && n > 0 && n <= 65535 {
				return int32(n)
			}
		}
	}
	return 0
}

// StripUserinfo removes the user information of every URL in v ("postgres://app:pw@db/x" becomes
// "postgres://db/x"), cutting at the last '@' before the next space or URL, so that a password holding '@' or
// '/' leaves nothing behind. What remains can be scanned and shown without credentials.
func StripUserinfo(v string) string {
	var b strings.Builder
	for {
		i := strings.Index(v, "://")
		if i < 0 {
			b.WriteString(v)
			return b.String()
		}
		b.WriteString(v[:i+3])
		v = v[i+3:]
		end := strings.IndexFunc(v, isSpace)
		if end < 0 {
			end = len(v)
		}
		if next := strings.Index(v[:end], "://"); next >= 0 {
			end = next
		}
		if at := strings.LastIndex(v[:end], "@"); at >= 0 {
			v = v[at+1:]
		}
	}
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// credentialWords are name parts that mark a credential; notCredentialLast are last parts that mean the value is
// about a credential (a file path, a length) rather than the credential itself.
var (
	credentialWords = map[string]bool{
		"PASSWORD": true, "PASSWD": true, "PASS": true, "PWD": true, "SECRET": true, "SECRETS": true, "TOKEN": true,
		"APIKEY": true, "KEY": true, "CREDENTIAL": true, "CREDENTIALS": true, "PRIVATEKEY": true, "PASSPHRASE": true,
		"SALT": true, "DSN": true, "AUTHKEY": true, "COOKIE": true, "AUTH": true,
	}
	notCredentialLast = map[string]bool{
		"FILE": true, "PATH": true, "DIR": true, "LENGTH": true, "LEN": true, "TTL": true, "EXPIRY": true,
		"EXPIRE": true, "EXPIRES": true, "TYPE": true, "NAME": true, "ID": true, "HEADER": true, "ENABLED": true,
		"ALGORITHM": true, "URL": true, "ENDPOINT": true, "HOST": true, "PORT": true, "USER": true, "USERNAME": true,
		"MODE": true, "METHOD": true, "TIMEOUT": true, "SIZE": true, "FORMAT": true,
	}
)

// CredentialName tells whether a variable's name marks a credential (POSTGRES_PASSWORD, API_KEY, app-secret), and
// not something about one (POSTGRES_PASSWORD_FILE, TOKEN_TTL).
func CredentialName(key string) bool {
	parts := strings.FieldsFunc(strings.ToUpper(key), func(r rune) bool { return r == '_' || r == '-' || r == '.' })
	if len(parts) == 0 || notCredentialLast[parts[len(parts)-1]] {
		return false
	}
	for _, p := range parts {
		if credentialWords[p] {
			return true
		}
		for _, suffix := range credentialSuffixes {
			if strings.HasSuffix(p, suffix) {
				return true
			}
		}
	}
	return false
}

// credentialSuffixes end name parts run together that mark a credential: PGPASSWORD, GHTOKEN, OPENAIAPIKEY.
var credentialSuffixes = []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "PASSPHRASE"}
