package plan

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/agops/agops/internal/configscan"
	"github.com/agops/agops/internal/model"
)

// ruleEnvironment splits each service's environment (env_file already merged in by compose-go) into a ConfigMap
// and, for values that look like credentials, a Secret; both are imported with envFrom. References to renamed
// peers are rewritten.
func (pl *planner) ruleEnvironment() {
	pl.plainValues = pl.plainSettingValues()
	known := pl.knownSecretValues()
	isSecret := func(k, v string) bool {
		if isCredential(k, v) {
			return true
		}
		for _, s := range known {
			if strings.Contains(v, s) {
				return true
			}
		}
		return false
	}
	for _, n := range pl.order {
		if c := pl.primary[n]; c != nil {
			pl.environment(n, c, isSecret)
		}
	}
}

// environment carries one service's variables over.
func (pl *planner) environment(n string, c *model.Container, isSecret func(k, v string) bool) {
	s := pl.svcs[n]
	if len(s.EnvFiles) > 0 {
		pl.record(n, "env_file", model.Mapped, "variables from env_file are carried with environment", "")
	}
	if len(s.Environment) == 0 {
		return
	}
	plain := map[string]string{}
	var secret []model.SecretKey
	for _, k := range sortedKeys(s.Environment) {
		v := s.Environment[k]
		if v == nil {
			pl.record(n, "environment."+k, model.Dropped, "declared without a value and unset when loading: Compose passes nothing either", "")
			continue
		}
		val := *v
		if nv, changed := pl.rewriteHosts(val); changed {
			val = nv
			if !isSecret(k, *v) {
				pl.record(n, "environment."+k, model.Approximated, fmt.Sprintf("renamed peers rewritten: %q", val), "")
			} else {
				pl.record(n, "environment."+k, model.Approximated, "renamed peers rewritten in the secret value", "")
			}
		}
		if !validKey.MatchString(k) {
			if isSecret(k, *v) {
				pl.record(n, "environment."+k, model.NeedsInput, "a credential whose name is not a valid Secret key ([-._a-zA-Z0-9]) is left out", "rename the variable")
				continue
			}
			c.Env = append(c.Env, model.EnvVar{Name: k, Value: val})
			pl.record(n, "environment."+k, model.Mapped, "set directly on the container (the name is not a valid ConfigMap key)", "")
			continue
		}
		if isSecret(k, *v) {
			secret = append(secret, model.SecretKey{Key: k, Source: "environment of service " + n, Value: []byte(val), Known: true})
			if len(val) >= minCredentialLen {
				if pl.credentials[n] == nil {
					pl.credentials[n] = map[string]string{}
				}
				pl.credentials[n][k] = val
			}
			continue
		}
		plain[k] = val
	}
	pl.envObjects(n, c, plain, secret)
}

// envObjects stores a service's plain variables in a ConfigMap and its credentials in a Secret.
func (pl *planner) envObjects(n string, c *model.Container, plain map[string]string, secret []model.SecretKey) {
	name := pl.names[n] + "-env"
	if len(plain) > 0 {
		pl.configMaps[name] = &model.ConfigMap{Name: pl.unique("configmap", name), Data: plain}
		c.EnvFrom = append(c.EnvFrom, model.EnvFrom{ConfigMap: pl.configMaps[name].Name})
		pl.record(n, "environment", model.Mapped, fmt.Sprintf("%d variables in ConfigMap %s, imported with envFrom", len(plain), name), "")
	}
	if len(secret) > 0 {
		sec := &model.Secret{Name: pl.unique("secret", name), Keys: secret}
		pl.secrets[sec.Name] = sec
		pl.envSecrets[n] = sec
		for _, k := range secret {
			pl.indexCredential(string(k.Value), sec.Name, k.Key)
		}
		c.EnvFrom = append(c.EnvFrom, model.EnvFrom{Secret: sec.Name})
		keys := make([]string, len(secret))
		for i, k := range secret {
			keys[i] = k.Key
		}
		pl.record(n, "environment", model.Mapped,
			fmt.Sprintf("credentials %s go to Secret %s (values are not written to the output)", strings.Join(keys, ", "), sec.Name),
			secretHint())
	}
}

// knownSecretValues are the values agops keeps secret anywhere in the project: credential variables of every service
// and the contents of Compose secrets. The same value under another name (REDISCLI_AUTH, a DSN) is secret too.
func (pl *planner) knownSecretValues() []string {
	seen := map[string]bool{}
	var out []string
	add := func(v string) {
		v = strings.TrimSpace(v)
		if len(v) >= minCredentialLen && !seen[v] && !pl.plainValues[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for _, n := range pl.order {
		for _, k := range sortedKeys(pl.svcs[n].Environment) {
			v := pl.svcs[n].Environment[k]
			switch {
			case v == nil:
			case urlPassword.MatchString(*v):
				for _, m := range urlPasswordPart.FindAllStringSubmatch(*v, -1) {
					add(m[1])
				}
			case isCredential(k, *v):
				add(*v)
			}
		}
	}
	for _, name := range sortedKeys(pl.p.Secrets) {
		s := pl.p.Secrets[name]
		switch {
		case s.Content != "":
			add(s.Content)
		case s.File != "":
			if b, err := os.ReadFile(s.File); err == nil && len(b) <= maxConfigMapBytes {
				add(string(b))
			}
		}
	}
	return out
}

// plainSettingWords name variables whose values are plain settings, not secrets, whatever else holds the same value:
// POSTGRES_USER=postgres stays plain when POSTGRES_PASSWORD=postgres too.
var plainSettingWords = map[string]bool{"USER": true, "USERNAME": true, "LOGIN": true, "DB": true, "DATABASE": true,
	"DBNAME": true, "SCHEMA": true, "HOST": true, "HOSTNAME": true}

// plainSettingValues are the values of user, database and host name variables that are not credentials by name, and
// the names services are reached by.
func (pl *planner) plainSettingValues() map[string]bool {
	out := map[string]bool{}
	for _, n := range pl.order {
		out[n] = true
		for _, a := range pl.aliases[n] {
			out[a] = true
		}
		for k, v := range pl.svcs[n].Environment {
			if v == nil || isCredential(k, *v) {
				continue
			}
			words := strings.FieldsFunc(strings.ToUpper(k), func(r rune) bool { return r == '_' || r == '-' || r == '.' })
			if len(words) > 0 && plainSettingWords[words[len(words)-1]] {
				out[strings.TrimSpace(*v)] = true
			}
		}
	}
	return out
}

// secretHint tells how to create the Secrets whose values agops knows but does not write.
func secretHint() string {
	return "create it with: agops secrets -f <compose files> | kubectl apply -f -"
}

// validKey is what ConfigMap and Secret keys may contain.
var validKey = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

var (
	urlPassword     = regexp.MustCompile(`://[^:/@\s]*:[^@/\s]+@`)
	urlPasswordPart = regexp.MustCompile(`://[^:/@\s]*:([^@/\s]+)@`)
)

// isCredential tells whether an environment variable holds a secret, by its name or by a password in a URL. A
// value that is a file path (POSTGRES_PASSWORD=/run/secrets/pw) points at a secret and is not one.
func isCredential(key, value string) bool {
	if urlPassword.MatchString(value) {
		return true
	}
	return !isFilePath(value) && configscan.CredentialName(key)
}

// isFilePath tells whether a value is an absolute path such as /run/secrets/db-password.
func isFilePath(v string) bool {
	return strings.HasPrefix(v, "/") && strings.Count(v, "/") >= 2 && !strings.ContainsAny(v, " \t:@")
}
