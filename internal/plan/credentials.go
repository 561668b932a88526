package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agops/agops/internal/model"
)

// minCredentialLen is the shortest credential value agops looks for in commands; shorter ones match by chance.
const minCredentialLen = 4

// ruleCredentialRefs keeps credential values out of commands and probes. Compose files often repeat a password in
// a healthcheck (`sqlcmd -P example_123`); since the value now reaches the container from a Secret as an
// environment variable, the command refers to the variable instead: $(KEY) in command and args (the kubelet
// expands it), ${KEY} in shell scripts, and exec probes become `sh -c` scripts that read ${KEY}.
func (pl *planner) ruleCredentialRefs() {
	for _, n := range pl.order {
		c := pl.primary[n]
		if c == nil {
			continue
		}
		creds, borrowed := pl.borrowCredentials(n, c)
		if len(creds) == 0 {
			continue
		}
		keys := credentialKeys(creds)
		var changed []string
		if v, ok := replaceInArgs(c.Command, creds, keys); ok {
			c.Command, changed = v, append(changed, "entrypoint")
		}
		if v, ok := replaceInArgs(c.Args, creds, keys); ok {
			c.Args, changed = v, append(changed, "command")
		}
		for _, p := range []struct {
			name string
			cmd  *[]string
		}{{"readiness probe", probeExec(c.Readiness)}, {"liveness probe", probeExec(c.Liveness)}, {"startup probe", probeExec(c.Startup)},
			{"post_start", &c.PostStart}, {"pre_stop", &c.PreStop}} {
			if p.cmd == nil {
				continue
			}
			if v, ok := replaceInExec(*p.cmd, creds, keys); ok {
				*p.cmd, changed = v, append(changed, p.name)
			}
		}
		if len(changed) > 0 {
			reason := fmt.Sprintf("a credential value appeared in the %s; it now reads the variable from the Secret instead (the probe runs through sh)", strings.Join(changed, ", "))
			hint := "refer to the variable ($VAR) in Compose too, so the password is not in the file"
			if len(borrowed) > 0 {
				reason += fmt.Sprintf("; %s, which peers hold as a credential, is kept in the service's own Secret %s", strings.Join(borrowed, ", "), pl.envSecrets[n].Name)
				hint = secretHint()
			}
			pl.record(n, "healthcheck/command", model.Approximated, reason, hint)
		}
	}
}

// credentialRef says which Secret key holds a credential value.
type credentialRef struct {
	value, secret, key string
}

// indexCredential remembers where a credential value lives, so that other services' commands can refer to it.
func (pl *planner) indexCredential(value, secret, key string) {
	value = strings.TrimSpace(value)
	if len(value) < minCredentialLen || !validKey.MatchString(key) || pl.plainValues[value] {
		return
	}
	for _, r := range pl.credentialIndex {
		if r.value == value {
			return
		}
	}
	pl.credentialIndex = append(pl.credentialIndex, credentialRef{value: value, secret: secret, key: key})
}

// borrowCredentials returns the service's own credentials plus the credentials of other services (or Compose
// secrets) whose values appear in its commands or probes: a redis started with `--requirepass` and the password its
// peers hold in their environment. A command refers only to what its own service holds, so such a value becomes a
// key of the service's own Secret, under the name the peer gives it, and reaches the container from there.
// Values that are also plain settings (a user name equal to a password) are neither.
func (pl *planner) borrowCredentials(n string, c *model.Container) (creds map[string]string, borrowed []string) {
	creds = map[string]string{}
	for k, v := range pl.credentials[n] {
		if !pl.plainValues[v] {
			creds[k] = v
		}
	}
	own := map[string]bool{}
	for _, v := range pl.credentials[n] {
		own[v] = true
	}
	texts := commandTexts(c)
	for _, r := range pl.credentialIndex {
		if own[r.value] || !containsText(texts, r.value) {
			continue
		}
		if _, taken := pl.svcs[n].Environment[r.key]; taken || creds[r.key] != "" {
			pl.record(n, "healthcheck/command", model.NeedsInput,
				fmt.Sprintf("a command holds the value of %s (held by %s), but the service already has a variable of that name", r.key, r.secret),
				"refer to the password through a variable in Compose")
			continue
		}
		sec := pl.ownSecret(n)
		sec.Keys = append(sec.Keys, model.SecretKey{Key: r.key, Source: "command of service " + n, Value: []byte(r.value), Known: true})
		c.Env = append(c.Env, model.EnvVar{Name: r.key, SecretRef: &model.KeyRef{Name: sec.Name, Key: r.key}})
		creds[r.key] = r.value
		own[r.value] = true
		borrowed = append(borrowed, r.key)
	}
	return creds, borrowed
}

// ownSecret is the Secret of the service's credentials, made when it has none yet.
func (pl *planner) ownSecret(n string) *model.Secret {
	if sec := pl.envSecrets[n]; sec != nil {
		return sec
	}
	sec := &model.Secret{Name: pl.unique("secret", pl.names[n]+"-env")}
	pl.secrets[sec.Name], pl.envSecrets[n] = sec, sec
	return sec
}

func commandTexts(c *model.Container) []string {
	texts := append(append([]string{}, c.Command...), c.Args...)
	for _, p := range []*model.Probe{c.Readiness, c.Liveness, c.Startup} {
		if p != nil {
			texts = append(texts, p.Exec...)
		}
	}
	return append(append(texts, c.PostStart...), c.PreStop...)
}

func containsText(texts []string, v string) bool {
	for _, t := range texts {
		if strings.Contains(t, v) {
			return true
		}
	}
	return false
}

func probeExec(p *model.Probe) *[]string {
	if p == nil || len(p.Exec) == 0 {
		return nil
	}
	return &p.Exec
}

// credentialKeys orders keys by value length, longest first, so that a value containing another is replaced whole.
func credentialKeys(creds map[string]string) []string {
	keys := make([]string, 0, len(creds))
	for k := range creds {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := creds[keys[i]], creds[keys[j]]
		return len(a) > len(b) || len(a) == len(b) && keys[i] < keys[j]
	})
	return keys
}

func anyContains(list []string, creds map[string]string, keys []string) bool {
	for _, s := range list {
		if containsAny(s, creds, keys) {
			return true
		}
	}
	return false
}

func containsAny(s string, creds map[string]string, keys []string) bool {
	for _, k := range keys {
		if strings.Contains(s, creds[k]) {
			return true
		}
	}
	return false
}

// replaceInArgs replaces credential values in command or args with $(KEY), which the kubelet expands.
func replaceInArgs(args []string, creds map[string]string, keys []string) ([]string, bool) {
	if len(args) == 0 {
		return args, false
	}
	if isShell(args) {
		return replaceInExec(args, creds, keys)
	}
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, creds[k], "$("+k+")")
	}
	r := strings.NewReplacer(pairs...)
	out := make([]string, len(args))
	changed := false
	for i, a := range args {
		out[i] = r.Replace(a)
		changed = changed || out[i] != a
	}
	return out, changed
}

// isShell tells whether a command is `sh -c SCRIPT` (or bash, ash, dash).
func isShell(args []string) bool {
	if len(args) < 3 || args[1] != "-c" {
		return false
	}
	base := args[0][strings.LastIndex(args[0], "/")+1:]
	return base == "sh" || base == "bash" || base == "ash" || base == "dash"
}

// replaceInExec replaces credential values in an exec command by a shell reference to the variable, turning a
// plain exec into `sh -c` when needed.
func replaceInExec(args []string, creds map[string]string, keys []string) ([]string, bool) {
	found := false
	for _, a := range args {
		found = found || containsAny(a, creds, keys)
	}
	if !found {
		return args, false
	}
	if isShell(args) {
		script := replaceInScript(args[2], creds, keys)
		if len(args) <= 4 || !anyContains(args[4:], creds, keys) {
			out := append([]string{}, args...)
			out[2] = script
			return out, true
		}
		// The script's positional parameters hold a credential: set them inside the script instead.
		words := make([]string, 0, len(args)-4)
		for _, a := range args[4:] {
			words = append(words, quoteWithVars(a, creds, keys))
		}
		return []string{args[0], "-c", "set -- " + strings.Join(words, " ") + "\n" + script, args[3]}, true
	}
	words := make([]string, len(args))
	for i, a := range args {
		words[i] = quoteWithVars(a, creds, keys)
	}
	return []string{"sh", "-c", strings.Join(words, " ")}, true
}

// matchAt returns the credential whose value starts at s[i], longest first.
func matchAt(s string, i int, creds map[string]string, keys []string) (string, bool) {
	for _, k := range keys {
		if strings.HasPrefix(s[i:], creds[k]) {
			return k, true
		}
	}
	return "", false
}

// replaceInScript replaces credential values in a shell script with the variable, quoted for where the value stood:
// "${KEY}" outside quotes, ${KEY} inside double quotes, '"${KEY}"' inside single quotes. It follows quotes into
// command substitutions ($(...) and backquotes start a fresh context) and leaves comments alone.
func replaceInScript(script string, creds map[string]string, keys []string) string {
	sc := &scriptScanner{src: script, states: []int{bare}}
	for sc.i < len(script) {
		if k, ok := matchAt(script, sc.i, creds, keys); ok && sc.state() != comment {
			sc.writeVar(k)
			sc.i += len(creds[k])
			continue
		}
		sc.step()
	}
	return sc.out.String()
}

// Shell lexical states.
const (
	bare = iota
	single
	double
	comment
)

type scriptScanner struct {
	src    string
	i      int
	states []int // a stack: command substitutions push a fresh bare state
	out    strings.Builder
}

func (s *scriptScanner) state() int { return s.states[len(s.states)-1] }
func (s *scriptScanner) set(st int) { s.states[len(s.states)-1] = st }

func (s *scriptScanner) writeVar(k string) {
	switch s.state() {
	case single:
		s.out.WriteString(`'"${` + k + `}"'`)
	case double:
		s.out.WriteString("${" + k + "}")
	default:
		s.out.WriteString(`"${` + k + `}"`)
	}
}

// step copies one token of the script and updates the state.
func (s *scriptScanner) step() {
	c, st := s.src[s.i], s.state()
	n := 1
	switch {
	case st == comment:
		if c == '\n' {
			s.set(bare)
		}
	case st == single:
		if c == '\'' {
			s.set(bare)
		}
	case c == '\\' && s.i+1 < len(s.src):
		n = 2
	case c == '$' && s.i+1 < len(s.src) && s.src[s.i+1] == '(':
		s.states = append(s.states, bare)
		n = 2
	case c == ')' && st == bare && len(s.states) > 1:
		s.states = s.states[:len(s.states)-1]
	case c == '"' && st == bare:
		s.set(double)
	case c == '"' && st == double:
		s.set(bare)
	case c == '\'' && st == bare:
		s.set(single)
	case c == '#' && st == bare && (s.i == 0 || strings.ContainsRune(" \t\n;&|(", rune(s.src[s.i-1]))):
		s.set(comment)
	}
	s.out.WriteString(s.src[s.i : s.i+n])
	s.i += n
}

// quoteWithVars single-quotes a word for sh, with "${KEY}" where a credential value was.
func quoteWithVars(word string, creds map[string]string, keys []string) string {
	var b strings.Builder
	lit := 0
	flush := func(end int) {
		if end > lit {
			b.WriteString("'" + strings.ReplaceAll(word[lit:end], "'", `'\''`) + "'")
		}
	}
	for i := 0; i < len(word); {
		k, ok := matchAt(word, i, creds, keys)
		if !ok {
			i++
			continue
		}
		flush(i)
		b.WriteString(`"${` + k + `}"`)
		i += len(creds[k])
		lit = i
	}
	flush(len(word))
	if b.Len() == 0 {
		return "''"
	}
	return b.String()
}
