package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agops/agops/internal/e2e/e2etest"
	"github.com/agops/agops/internal/gateway"
	"github.com/agops/agops/internal/testbed"
)

// TestGatewayTokenReview authenticates ServiceAccount tokens the way the gateway does in the cluster, against the
// test bed's real API server: a token minted for the gateway's audience names its agent, a token for another
// audience, a forged token and no token are refused.
func TestGatewayTokenReview(t *testing.T) {
	c := testbed.StartForTest(t, e2etest.LabNodes())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := c.Client()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lab"}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "agent-worker", Namespace: "lab"}}
	if _, err := client.CoreV1().ServiceAccounts("lab").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := func(audience string) string {
		tr, err := client.CoreV1().ServiceAccounts("lab").CreateToken(ctx, "agent-worker",
			&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{audience}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	auth, err := gateway.NewTokenReview(client.AuthenticationV1().TokenReviews(), "agops-gateway", gateway.TokenReviewOptions{})
	if err != nil {
		t.Fatal(err)
	}
	try := func(tok string) (string, error) {
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://gateway/mcp/tools", nil)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		return auth.Authenticate(r)
	}
	if agent, err := try(token("agops-gateway")); err != nil || agent != "lab/agent-worker" {
		t.Errorf("a token for the gateway: agent %q, err %v; want lab/agent-worker", agent, err)
	}
	good := token("agops-gateway")
	for name, tok := range map[string]string{
		"another audience": token("vault"),
		"forged":           good[:len(good)-4] + "AAAA",
		"none":             "",
	} {
		if agent, err := try(tok); err == nil {
			t.Errorf("%s: authenticated as %q", name, agent)
		}
	}
}
