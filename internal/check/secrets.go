package check

import (
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// Credential detection reads names and values but only ever reports names: no message, fix or error may carry a
// value (secrets_test.go holds that line).

// credentialWords are name words that mark a credential; credentialPairs are two words that do together.
var (
	credentialWords = map[string]bool{
		"PASSWORD": true, "PASSWD": true, "PASSPHRASE": true, "SECRET": true, "TOKEN": true, "CREDENTIAL": true,
		"CREDENTIALS": true, "APIKEY": true, "PRIVATEKEY": true, "ACCESSKEY": true,
	}
	credentialPairs = map[[2]string]bool{{"API", "KEY"}: true, {"PRIVATE", "KEY"}: true, {"ACCESS", "KEY"}: true}
	// lastWordOnly are credential words only at the end of a longer name (DB_PASS, POSTGRES_PWD; not PWD alone).
	lastWordOnly = map[string]bool{"PASS": true, "PWD": true}
	// notCredentialLast ends names that are about a credential without holding one: OPENAI_API_KEY_FILE holds a
	// path, TOKEN_TTL a duration, CLIENT_SECRET_NAME the name of a Secret.
	notCredentialLast = map[string]bool{
		"FILE": true, "PATH": true, "DIR": true, "URL": true, "URI": true, "ENDPOINT": true, "HOST": true,
		"PORT": true, "NAME": true, "ID": true, "TYPE": true, "MODE": true, "TTL": true, "TIMEOUT": true,
		"EXPIRY": true, "EXPIRATION": true, "EXPIRES": true, "LENGTH": true, "LEN": true, "ENABLED": true,
		"ENABLE": true, "DISABLED": true, "REQUIRED": true, "HEADER": true, "FIELD": true, "PARAM": true,
		"LIMIT": true, "COUNT": true, "SIZE": true, "VERSION": true, "FORMAT": true, "ALGORITHM": true,
		"ISSUER": true, "AUDIENCE": true, "SCOPE": true, "SCOPES": true, "PREFIX": true, "POLICY": true,
		"REF": true, "KEYREF": true, "LOCATION": true, "MOUNT": true,
	}
	// placeholderValues are values that switch or point rather than hold a credential.
	placeholderValues = map[string]bool{
		"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true, "none": true, "null": true,
		"enabled": true, "disabled": true, "required": true, "optional": true,
	}
)

// nameWords splits a key into upper-case words at non-alphanumerics and lower-to-upper case changes:
// "db.adminPassword" is DB ADMIN PASSWORD.
func nameWords(name string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToUpper(string(cur)))
			cur = cur[:0]
		}
	}
	var prev rune
	for _, r := range name {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsDigit(prev)):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
		prev = r
	}
	flush()
	return words
}

// credentialName tells whether a key or variable name says it holds a credential.
func credentialName(name string) bool {
	w := nameWords(name)
	if len(w) == 0 || notCredentialLast[w[len(w)-1]] {
		return false
	}
	if len(w) > 1 && lastWordOnly[w[len(w)-1]] {
		return true
	}
	for i, word := range w {
		if credentialWords[word] {
			return true
		}
		if i > 0 && credentialPairs[[2]string{w[i-1], word}] {
			return true
		}
	}
	return false
}

// placeholder tells whether a value holds nothing secret: empty, a switch, a path, or a reference to another
// variable.
func placeholder(v string) bool {
	v = strings.TrimSpace(v)
	switch {
	case v == "", placeholderValues[strings.ToLower(v)], strings.HasPrefix(v, "/"):
		return true
	case strings.HasPrefix(v, "$(") && strings.HasSuffix(v, ")"), strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}"):
		return true
	}
	return false
}

var (
	pemPrivateKey = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----`)
	urlPassword   = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:([^\s/@]+)@`)
	apiToken      = regexp.MustCompile(`(?:^|[^A-Za-z0-9_-])(?:sk-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[abposr]-[A-Za-z0-9-]{10,}|glpat-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}|AKIA[0-9A-Z]{16})`)
)

// credentialValue says what in a value looks like a credential, or "" when nothing does.
func credentialValue(v string) string {
	if pemPrivateKey.MatchString(v) {
		return "holds a PEM private key"
	}
	for _, m := range urlPassword.FindAllStringSubmatch(v, -1) {
		if !placeholder(m[1]) && !strings.HasPrefix(m[1], "$") {
			return "holds a URL with a password"
		}
	}
	if apiToken.MatchString(v) {
		return "holds what looks like an API token"
	}
	return ""
}

// credentialReason says why a name and value look like a credential, or "" when they do not.
func credentialReason(name, value string) string {
	if r := credentialValue(value); r != "" {
		return r
	}
	if credentialName(name) && !placeholder(value) {
		return "has a name that marks a credential and a literal value"
	}
	return ""
}

func checkConfigMaps(inv *inventory) []Finding {
	var out []Finding
	for _, cm := range inv.configMaps {
		ref := Ref{Kind: "ConfigMap", Namespace: cm.Namespace, Name: cm.Name}
		for _, k := range sortedKeys(cm.Data) {
			if reason := credentialReason(k, cm.Data[k]); reason != "" {
				out = append(out, newFinding(ruleSecretsInConfigMap, ref, "key "+k+" "+reason))
			}
		}
		for k := range cm.BinaryData {
			if credentialName(k) {
				out = append(out, newFinding(ruleSecretsInConfigMap, ref, "binary key "+k+" has a name that marks a credential"))
			}
		}
	}
	return out
}

func checkEnv(inv *inventory) []Finding {
	return eachContainer(inv, func(w *workload, c container) []Finding {
		var out []Finding
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				continue
			}
			if reason := credentialReason(e.Name, e.Value); reason != "" {
				out = append(out, containerFinding(ruleSecretInEnv, w, c, "env "+e.Name+" "+reason))
			}
		}
		return out
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
