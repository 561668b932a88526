package realnodes

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/airgap"
	"github.com/agops/agops/internal/e2e/e2etest"
	"github.com/agops/agops/internal/image"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/kubeclient"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan/plantest"
)

// toolkitProject is an agent stack written the way Docker's examples are: an agent that calls Docker's MCP gateway
// by its name and sends no token, and the gateway told to run one catalog server, fleet, serving two of its tools.
const toolkitProject = `name: kit
services:
  agent:
    image: agops.test/mcp-agent:1
    command: ["agent"]
    environment:
      MCP_URL: http://mcp-gateway:8811/mcp
    depends_on: [mcp-gateway]
    x-agops: {role: agent}
  mcp-gateway:
    image: docker/mcp-gateway:latest
    use_api_socket: true
    volumes: ["/var/run/docker.sock:/var/run/docker.sock"]
    command: ["--transport=streaming", "--servers=fleet", "--tools=echo,add"]
`

// TestToolkitOnRealNodes runs that stack, migrated, on real nodes with real images: the catalog server is an image
// mcp/fleet that speaks MCP only on standard input and output, whose entrypoint agops mcp-bridge reads from the
// registry mirror (--registry-mirror: a registry on the test bed's host) and serves over HTTP; the agent, unchanged,
// calls http://mcp-gateway:8811/mcp, which is the agops gateway's aggregate, through its tool proxy. echo and add
// are answered by the catalog server; delete_all, which --tools left out, is neither listed nor run.
func TestToolkitOnRealNodes(t *testing.T) {
	onShared(t)
	root := e2etest.RepoRoot(t)
	p, dir := e2etest.InlineProject(t, "kit", toolkitProject)
	c := shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	// The mirror: a registry on the host's address on the test bed's network, which pods reach as outside the
	// cluster.
	api, err := url.Parse(c.RESTConfig().Host)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(api.Hostname(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	reg := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = reg.Serve(l) }()
	defer reg.Close()
	mirror := l.Addr().String()

	fleetBin := buildFleet(t, root)
	catalog, err := image.Pack(fleetBin, image.Spec{Path: "/mcpfleet", Args: []string{"stdio"}, Title: "mcp/fleet"})
	if err != nil {
		t.Fatal(err)
	}
	agentImg, err := image.Pack(fleetBin, image.Spec{Path: "/mcpfleet", Title: "mcpfleet"})
	if err != nil {
		t.Fatal(err)
	}
	pushTo(t, "mcp/fleet", mirror, catalog)

	o := migrate.Options{Plan: plantest.OptionsFile(t, dir), Format: migrate.FormatFiles, Out: filepath.Join(dir, "out"),
		Stdout: io.Discard, RegistryMirror: mirror}
	o.Compose.Files = []string{p.File}
	if _, err := migrate.Run(ctx, o); err != nil {
		t.Fatal(err)
	}
	objs, err := kube.Load(o.Out, "single-node")
	if err != nil {
		t.Fatal(err)
	}
	// mcp/fleet has no tag, so the kubelet would pull it from Docker Hub, which the test bed cannot reach: the image
	// loaded into the nodes is used instead.
	for _, u := range objs {
		for _, field := range []string{"containers", "initContainers"} {
			cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", field)
			for _, c := range cs {
				c.(map[string]any)["imagePullPolicy"] = "IfNotPresent"
			}
			if len(cs) > 0 {
				_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", field)
			}
		}
	}
	helper, err := image.Build(bin.StaticAgops(t, root))
	if err != nil {
		t.Fatal(err)
	}
	for ref, img := range map[string]v1.Image{o.Plan.HelperImage: helper, "mcp/fleet": catalog, "agops.test/mcp-agent:1": agentImg} {
		if err := c.LoadImage(ctx, ref, img); err != nil {
			t.Fatal(err)
		}
	}
	deploy(ctx, t, c, objs)
	ns := ""
	for _, u := range objs {
		if u.GetKind() == "Deployment" && u.GetName() == "agent" {
			ns = u.GetNamespace()
		}
	}
	cs := c.Client()
	t.Cleanup(func() { dumpNamespace(t, cs, ns) })

	// The agent's calls, through the aggregate: answered by the catalog server behind the bridge.
	deadline := time.Now().Add(8 * time.Minute)
	for {
		calls := podCalls(ctx, cs, ns, "agent")
		echoes, adds := 0, 0
		for _, call := range calls {
			switch {
			case call.Op == opEcho && call.OK && call.Text == fmt.Sprintf("hello-%d", call.I):
				echoes++
			case call.Op == opAddSmall && call.OK && call.Text == "5":
				adds++
			case call.Op == opDeleteAll && call.OK:
				t.Fatalf("delete_all, which --tools left out, was answered: %+v", call)
			}
		}
		if echoes >= 3 && adds >= 3 {
			t.Logf("%d echo and %d add calls answered by the catalog server through the aggregate", echoes, adds)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's calls through the aggregate: %d echo, %d add answered within 8 minutes; its log ends %+v",
				echoes, adds, tail(calls, 8))
		}
		time.Sleep(3 * time.Second)
	}
	// The catalog server ran them (its lines go to the bridge's log), and never delete_all.
	ran := podLog(ctx, cs, ns, "mcp-gateway-fleet")
	if !strings.Contains(ran, `"ran":"echo"`) || strings.Contains(ran, `"ran":"delete_all"`) {
		t.Errorf("the catalog server's log: %s", ran)
	}
	if !strings.Contains(ran, "agops mcp-bridge: serving /mcpfleet") {
		t.Errorf("the bridge did not run the image's entrypoint read from the mirror: %s", ran)
	}
}

// pushTo pushes img where agops airgap push puts ref under mirror.
func pushTo(t *testing.T, ref, mirror string, img v1.Image) {
	t.Helper()
	target, err := airgap.TargetRef(ref, mirror)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(target, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

// podCalls reads the calls an agent pod of service printed (testdata/mcpfleet).
func podCalls(ctx context.Context, cs kubeclient.Interface, ns, service string) []agentCall {
	var calls []agentCall
	for _, line := range strings.Split(podLog(ctx, cs, ns, service), "\n") {
		var c agentCall
		if json.Unmarshal([]byte(line), &c) == nil && c.Op != "" {
			calls = append(calls, c)
		}
	}
	return calls
}

// podLog is the log of the main container of the first running pod of service.
func podLog(ctx context.Context, cs kubeclient.Interface, ns, service string) string {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + service})
	if err != nil {
		return ""
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning {
			continue
		}
		raw, err := cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: service}).DoRaw(ctx)
		if err == nil {
			return string(raw)
		}
	}
	return ""
}

// dumpNamespace logs the state and the end of the log of every pod in ns when the test failed.
func dumpNamespace(t *testing.T, cs kubeclient.Interface, ns string) {
	if !t.Failed() || ns == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("listing pods: %v", err)
		return
	}
	lines := int64(30)
	for _, p := range pods.Items {
		for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			out, err := cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, TailLines: &lines}).DoRaw(ctx)
			t.Logf("pod %s container %s (%s; %s), last lines (%v):\n%s", p.Name, c.Name, p.Status.Phase, containerStates(&p), err, out)
		}
	}
}
