package check

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Values that must never appear in any output. Each is unique so that a leak is unambiguous.
const (
	leakPassword = "hunter2-Leak-7Q"
	leakURLPass  = "urlpass-Leak-9Z"
	leakToken    = "sk-proj-LeakLeakLeakLeakLeak0123456789"
	leakPEM      = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAALeakLeak\n-----END OPENSSH PRIVATE KEY-----\n"
)

func (f *fixture) setData(k, v string) { f.cm.Data[k] = v }

func (f *fixture) setEnv(k, v string) {
	f.app().Env = append(f.app().Env, corev1.EnvVar{Name: k, Value: v})
}

var secretCases = []ruleCase{
	{"invalid-secrets-in-configmap-name", ruleSecretsInConfigMap, func(f *fixture) { f.setData("DB_PASSWORD", leakPassword) }},
	{"invalid-secrets-in-configmap-camel-case", ruleSecretsInConfigMap, func(f *fixture) { f.setData("openaiApiKey", leakPassword) }},
	{"invalid-secrets-in-configmap-last-word-pass", ruleSecretsInConfigMap, func(f *fixture) { f.setData("SMTP_PASS", leakPassword) }},
	{"invalid-secrets-in-configmap-url", ruleSecretsInConfigMap, func(f *fixture) {
		f.setData("DATABASE_URL", "postgres://app:"+leakURLPass+"@postgres:5432/app")
	}},
	{"invalid-secrets-in-configmap-url-no-user", ruleSecretsInConfigMap, func(f *fixture) {
		f.setData("CACHE", "redis://:"+leakURLPass+"@redis:6379/0")
	}},
	{"invalid-secrets-in-configmap-token-prefix", ruleSecretsInConfigMap, func(f *fixture) { f.setData("LLM", leakToken) }},
	{"invalid-secrets-in-configmap-pem-in-file", ruleSecretsInConfigMap, func(f *fixture) { f.setData("id_ed25519", leakPEM) }},
	{"invalid-secrets-in-configmap-binary-key", ruleSecretsInConfigMap, func(f *fixture) {
		f.cm.BinaryData = map[string][]byte{"tls.private_key": []byte(leakPassword)}
	}},
	{"valid-secrets-in-configmap-file-path", ruleSecretsInConfigMap, func(f *fixture) {
		f.setData("OPENAI_API_KEY_FILE", "/run/secrets/openai_api_key")
		f.setData("POSTGRES_PASSWORD_FILE", "/run/secrets/postgres_password")
	}},
	{"valid-secrets-in-configmap-lookalikes", ruleSecretsInConfigMap, func(f *fixture) {
		f.setData("MAX_TOKENS", "4096")
		f.setData("TOKENIZER", "llama3")
		f.setData("TOKEN_TTL", "3600")
		f.setData("PWD", "/app")
		f.setData("AUTH_TOKEN_ENABLED", "true")
		f.setData("REDIS_PASSWORD", "")
		f.setData("SESSION_SECRET_NAME", "app-session")
		f.setData("task", "disk-cleanup-0123456789abcdefghijkl")
	}},
	{"valid-secrets-in-configmap-url-placeholder", ruleSecretsInConfigMap, func(f *fixture) {
		f.setData("DATABASE_URL", "postgres://app:${POSTGRES_PASSWORD}@postgres:5432/app")
		f.setData("MCP_TOOLS_URL", "http://mcp-tools:8811/mcp")
	}},
	{"valid-secrets-in-configmap-config-file", ruleSecretsInConfigMap, func(f *fixture) {
		f.setData("mcp-tools.yaml", "audit:\n  redact_args: [api_key, token, password]\n")
	}},
	{"invalid-secrets-in-env-name", ruleSecretInEnv, func(f *fixture) { f.setEnv("ADMIN_TOKEN", leakPassword) }},
	{"invalid-secrets-in-env-value", ruleSecretInEnv, func(f *fixture) { f.setEnv("LLM", leakToken) }},
	{"invalid-secrets-in-env-aws", ruleSecretInEnv, func(f *fixture) { f.setEnv("AWS_ID", "AKIAABCDEFGHIJKLMNOP") }},
	{"valid-secrets-in-env-secret-ref", ruleSecretInEnv, nil},
	{"valid-secrets-in-env-references", ruleSecretInEnv, func(f *fixture) {
		f.setEnv("API_KEY_FILE", "/run/secrets/api_key")
		f.setEnv("DB_PASSWORD_COPY", "$(DB_PASSWORD)")
	}},
}

func TestCredentialName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"PASSWORD": true, "db.password": true, "dbPassword": true, "POSTGRES_PWD": true, "client-secret": true,
		"GITHUB_TOKEN": true, "apikey": true, "OPENAI_API_KEY": true, "AWS_SECRET_ACCESS_KEY": true, "tls.private_key": true,
		"credentials.json": true, "PWD": false, "MAX_TOKENS": false, "TOKENIZER_PATH": false, "OPENAI_API_KEY_FILE": false,
		"PASSWORD_FILE": false, "TOKEN_URL": false, "KEYBOARD": false, "PASS_THROUGH": false, "": false,
	} {
		if got := credentialName(name); got != want {
			t.Errorf("credentialName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestSecretValuesNeverPrinted runs every secret case and a broken object carrying a credential through Run, Text,
// JSON and the error, and looks for the values.
func TestSecretValuesNeverPrinted(t *testing.T) {
	t.Parallel()
	f := newFixture()
	for _, c := range secretCases {
		if c.change != nil {
			c.change(f)
		}
	}
	f.extra = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: broken, namespace: lab}\ndata: {PASSWORD: [" + leakPassword + "]}\n"
	fs, runErr := Run(f.objects(t))
	if runErr == nil {
		t.Fatal("want an error for the broken ConfigMap")
	}
	if rules := rulesOf(fs); !slices.Contains(rules, ruleSecretsInConfigMap) || !slices.Contains(rules, ruleSecretInEnv) {
		t.Fatalf("want credential findings for the other objects, got %v", rules)
	}
	var text bytes.Buffer
	r := Report{Findings: fs}
	if err := r.Text(&text); err != nil {
		t.Fatal(err)
	}
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	out := text.String() + string(js) + runErr.Error()
	for _, leak := range []string{leakPassword, leakURLPass, leakToken, "LeakLeak", "b3BlbnNzaC1rZXkt"} {
		if strings.Contains(out, leak) {
			t.Errorf("output carries a secret value %q:\n%s", leak, out)
		}
	}
}
