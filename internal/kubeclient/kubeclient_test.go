package kubeclient

import (
	"net/http"
	"net/http/httptest"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// A clientset, real or fake, serves wherever agops asks for an Interface.
var (
	_ Interface = (*kubernetes.Clientset)(nil)
	_ Interface = (*fake.Clientset)(nil)
	_ Interface = (*Clientset)(nil)
)

func TestNewTalksToTheServer(t *testing.T) {
	t.Parallel()
	var agent string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agent = r.UserAgent()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"` + r.URL.Path + `"}}`))
	}))
	defer srv.Close()
	cs, err := New(&rest.Config{Host: srv.URL, UserAgent: "agops/test"})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Get(t.Context(), "lab", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Name != "/api/v1/namespaces/lab" || agent != "agops/test" {
		t.Errorf("asked %q as %q", ns.Name, agent)
	}
	if _, err := New(&rest.Config{Host: srv.URL, QPS: 5}); err == nil {
		t.Error("a QPS without a Burst was accepted")
	}
}
