package e2e

import (
	"context"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agops/agops/internal/console"
	"github.com/agops/agops/internal/e2e/e2etest"
	"github.com/agops/agops/internal/testbed"
)

// TestConsoleKubeSignIn signs people in to the console with Kubernetes tokens, checked by the test bed's real API
// server (TokenReview): a ServiceAccount in a group the console names is an approver, another a viewer; a token for
// another audience, a forged one and none are refused.
func TestConsoleKubeSignIn(t *testing.T) {
	t.Parallel()
	c := testbed.StartForTest(t, e2etest.LabNodes())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := c.Client()
	token := func(ns, name, audience string) string {
		t.Helper()
		if _, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		tr, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
			&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{audience}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	k := &console.KubeSignIn{Reviews: client.AuthenticationV1().TokenReviews(), Audience: "agops-console",
		Approvers: []string{"system:serviceaccounts:ops"}}
	for _, tc := range []struct {
		name, token, who string
		role             console.Role
	}{
		{"an operator", token("ops", "alice", "agops-console"), "ops/alice", console.Approver},
		{"someone else", token("lab", "bob", "agops-console"), "lab/bob", console.Viewer},
	} {
		p, err := k.SignIn(ctx, tc.token)
		if err != nil || p.Name != tc.who || p.Role != tc.role || p.Method != "kubernetes" {
			t.Errorf("%s: %+v, %v; want %s as %s", tc.name, p, err, tc.who, tc.role)
		}
	}
	good := token("ops", "alice", "agops-console")
	for name, tok := range map[string]string{
		"another audience": token("ops", "alice", "agops-gateway"),
		"forged":           good[:len(good)-4] + "AAAA",
		"none":             "",
	} {
		if p, err := k.SignIn(ctx, tok); err == nil {
			t.Errorf("%s: signed in as %+v", name, p)
		}
	}
}
