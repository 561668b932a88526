package rehearse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/agops/agops/internal/check/reach"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/kubeclient"
)

// On the user's own cluster a rehearsal proves what stand-ins can prove — every workload Ready by its probes,
// names, ports, policies and start order — in throw-away namespaces, and kills nothing: the cluster's hosts are the
// user's. The project is migrated under a project name of its own (RehearsalPrefix and a random suffix), so that
// its namespaces, admission policies and every name that crosses tiers are new, consistent, and deleted afterwards,
// on failure and interrupt included.

// RehearsalPrefix starts the project name, and so every namespace, of a rehearsal on the user's cluster.
const RehearsalPrefix = "agops-rehearsal-"

// cleanupWithin bounds the wait for the rehearsal's objects to be deleted.
const cleanupWithin = 3 * time.Minute

// yourCluster is the user's cluster: nothing of it is ever killed.
type yourCluster struct {
	cfg    *rest.Config
	client kubeclient.Interface
	nodes  []string
}

func (c *yourCluster) RESTConfig() *rest.Config     { return c.cfg }
func (c *yourCluster) Client() kubeclient.Interface { return c.client }
func (c *yourCluster) Nodes() []string              { return c.nodes }
func (c *yourCluster) KillNode(string) error {
	return errors.New("agops never kills a node of your cluster")
}

// OnYourCluster migrates the project under a throw-away project name, applies it with stand-ins (running
// p.HelperImage, which the cluster must be able to pull: see agops image push) to the cluster cfg reaches, waits for
// every workload, measures the reachability matrix against agops check's (network describes the cluster: its
// address ranges and enforcer), and deletes everything it created.
func OnYourCluster(ctx context.Context, cfg *rest.Config, p Plan, network reach.Options) (rep Report, err error) {
	client, err := kubeclient.New(cfg)
	if err != nil {
		return Report{}, err
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Report{}, fmt.Errorf("reading your cluster's nodes: %w", err)
	}
	c := &yourCluster{cfg: cfg, client: client}
	for _, n := range nodes.Items {
		c.nodes = append(c.nodes, n.Name)
	}
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return Report{}, err
	}
	p.Migrate.Compose.ProjectName = RehearsalPrefix + hex.EncodeToString(suffix)
	objs, res, cleanup, err := migrateAndLoad(ctx, p)
	if err != nil {
		return Report{}, err
	}
	defer cleanup()
	helper := p.HelperImage
	if helper == "" {
		helper = helperRef(p.Migrate)
	}
	objs, standIns, err := PrepareStandIns(objs, res.Model, helper, network)
	if err != nil {
		return Report{}, err
	}
	o := defaults(p.Options, c)
	o.Kill = ""
	r := &rehearsal{c: c, o: o, start: time.Now(), workloads: workloadsOf(objs), jobs: jobsOf(objs)}
	a, err := kube.NewApplier(cfg, kube.WithLogger(o.Logger))
	if err != nil {
		return Report{}, err
	}
	defer func() {
		// The objects go whatever happened, even when ctx ended (an interrupt).
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupWithin)
		defer cancel()
		r.event(0, "deleting the rehearsal's namespaces and objects")
		if derr := a.Delete(cctx, objs, cleanupWithin); derr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up project %s: %w", p.Migrate.Compose.ProjectName, derr))
		}
		rep.Timeline = r.timeline
	}()
	r.event(0, fmt.Sprintf("project %s in throw-away namespaces", p.Migrate.Compose.ProjectName))
	if _, err := a.Apply(ctx, objs, kube.ApplyOptions{}); err != nil {
		return Report{}, fmt.Errorf("applying to your cluster: %w", err)
	}
	r.event(0, fmt.Sprintf("applied %d objects", len(objs)))
	if n, err := CreatePlaceholderSecrets(ctx, client, objs); err != nil {
		return Report{}, err
	} else if n > 0 {
		r.event(0, fmt.Sprintf("created %d Secrets the manifests reference with placeholder values", n))
	}
	snap, err := r.settle(ctx)
	if err != nil {
		return Report{}, err
	}
	rep = Report{Nodes: "yours"}
	for _, u := range r.workloads {
		ref := kube.Ref{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
		st := snap[ref]
		s := Service{Workload: ref, Desired: st.desired, Before: st.ready, During: st.ready, After: st.ready, Nodes: st.nodes, Unschedule: st.pending}
		s.Verdict = readyVerdict(s)
		rep.Services = append(rep.Services, s)
	}
	if rep.Reachability, err = r.measureWithJobs(ctx, standIns); err != nil {
		return rep, fmt.Errorf("measuring reachability: %w", err)
	}
	return rep, nil
}

// readyVerdict is a workload's verdict when nothing is killed.
func readyVerdict(s Service) string {
	switch {
	case s.Desired == 0:
		return "scaled to zero"
	case s.Before >= s.Desired:
		return "ready"
	case s.Unschedule != "":
		return "never fully ready: " + s.Unschedule
	}
	return "never fully ready"
}
