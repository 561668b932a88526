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
		creds := pl.credentials[n]
		if c == nil || len(creds) == 0 {
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
			pl.record(n, "healthcheck/command", model.Approximated,
				fmt.Sprintf("a credential value appeared in the %s; it now reads the variable from the Secret instead (the probe runs through sh)", strings.Join(changed, ", ")),
				"refer to the variable ($VAR) in Compose too, so the password is not in the file")
		}
	}
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
	out := make([]string, len(args))
	changed := false
	for i, a := range args {
		for _, k := range keys {
			if strings.Contains(a, creds[k]) {
				a = strings.ReplaceAll(a, creds[k], "$("+k+")")
				changed = true
			}
		}
		out[i] = a
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
		if containsAny(a, creds, keys) {
			found = true
		}
	}
	if !found {
		return args, false
	}
	if isShell(args) {
		out := append([]string{}, args...)
		for i := 2; i < len(out); i++ {
			for _, k := range keys {
				out[i] = strings.ReplaceAll(out[i], creds[k], "${"+k+"}")
			}
		}
		return out, true
	}
	words := make([]string, len(args))
	for i, a := range args {
		words[i] = quoteWithVars(a, creds, keys)
	}
	return []string{"sh", "-c", strings.Join(words, " ")}, true
}

// quoteWithVars single-quotes a word for sh, leaving "${KEY}" unquoted where a credential value was.
func quoteWithVars(word string, creds map[string]string, keys []string) string {
	parts := []string{word}
	for _, k := range keys {
		var next []string
		for _, p := range parts {
			if strings.HasPrefix(p, "\x00") {
				next = append(next, p)
				continue
			}
			pieces := strings.Split(p, creds[k])
			for i, piece := range pieces {
				if i > 0 {
					next = append(next, "\x00"+k)
				}
				next = append(next, piece)
			}
		}
		parts = next
	}
	var b strings.Builder
	for _, p := range parts {
		if k, ok := strings.CutPrefix(p, "\x00"); ok {
			b.WriteString(`"${` + k + `}"`)
			continue
		}
		if p != "" {
			b.WriteString("'" + strings.ReplaceAll(p, "'", `'\''`) + "'")
		}
	}
	if b.Len() == 0 {
		return "''"
	}
	return b.String()
}
