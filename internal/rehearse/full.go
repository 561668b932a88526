package rehearse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/image"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan"
	"github.com/agops/agops/internal/testbed"
)

// Plan is a whole `agops rehearse`: migrate a Compose project, start a test bed, rehearse on it.
type Plan struct {
	Migrate migrate.Options
	Overlay string
	Testbed []testbed.Option
	// RealNodes starts nodes that run containers (testbed.WithRealNodes) and loads the helper image, built from
	// HelperBinary (a static agops), into them; it also measures a client's traffic during the kill.
	RealNodes    bool
	HelperBinary string
	// StandIns runs stand-ins instead of the project's images (real nodes only) and measures the matrix.
	StandIns bool
	Options
}

// Rehearse migrates the project into a temporary folder, starts a three-node test bed, applies the overlay, kills
// a host and reports. The test bed is stopped before it returns.
func Rehearse(ctx context.Context, p Plan) (Report, error) {
	objs, res, cleanup, err := migrateAndLoad(ctx, p)
	if err != nil {
		return Report{}, err
	}
	defer cleanup()
	if p.StandIns {
		if !p.RealNodes {
			return Report{}, errors.New("stand-ins need real nodes: simulated nodes run no containers")
		}
		if objs, p.Options.StandIns, err = PrepareStandIns(objs, res.Model, helperRef(p.Migrate), TestbedNetwork); err != nil {
			return Report{}, err
		}
	}
	opts := p.Testbed
	var helper v1.Image
	if p.RealNodes {
		opts = append(opts, testbed.WithRealNodes())
		// Checked before the test bed starts: a binary that cannot be packed fails at once.
		if helper, err = image.Build(p.HelperBinary); err != nil {
			return Report{}, fmt.Errorf("the helper image for real nodes: %w (build agops with CGO_ENABLED=0 and give it as --helper-binary)", err)
		}
	}
	cluster, err := testbed.Start(ctx, opts...)
	if err != nil {
		return Report{}, fmt.Errorf("starting the test bed: %w", err)
	}
	defer cluster.Stop()
	nodes := "simulated"
	if p.RealNodes {
		nodes = "real"
		p.HelperImage = helperRef(p.Migrate)
		if err := cluster.LoadImage(ctx, p.HelperImage, helper); err != nil {
			return Report{}, err
		}
		p.Traffic, p.PlaceholderSecrets = true, true
	}
	rep, err := Run(ctx, cluster, objs, p.Options)
	rep.Nodes = nodes
	return rep, err
}

// migrateAndLoad migrates p's project into a temporary folder and loads p.Overlay; cleanup removes the folder.
func migrateAndLoad(ctx context.Context, p Plan) (objs []*unstructured.Unstructured, res migrate.Result, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "agops-rehearse-")
	if err != nil {
		return nil, res, nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	p.Migrate.Format, p.Migrate.Out = migrate.FormatFiles, filepath.Join(dir, "out")
	if res, err = migrate.Run(ctx, p.Migrate); err == nil {
		objs, err = kube.Load(p.Migrate.Out, p.Overlay)
	}
	if err != nil {
		cleanup()
		return nil, res, nil, err
	}
	return objs, res, cleanup, nil
}

// helperRef is the helper image the manifests name.
func helperRef(o migrate.Options) string {
	if o.Plan.HelperImage != "" {
		return o.Plan.HelperImage
	}
	return plan.DefaultOptions().HelperImage
}
