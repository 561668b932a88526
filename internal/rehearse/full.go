package rehearse

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/testbed"
)

// Plan is a whole `agops rehearse`: migrate a Compose project, start a test bed, rehearse on it.
type Plan struct {
	Migrate migrate.Options
	Overlay string
	Testbed []testbed.Option
	Options
}

// Rehearse migrates the project into a temporary folder, starts a three-node test bed, applies the overlay, kills
// a host and reports. The test bed is stopped before it returns.
func Rehearse(ctx context.Context, p Plan) (Report, error) {
	dir, err := os.MkdirTemp("", "agops-rehearse-")
	if err != nil {
		return Report{}, err
	}
	defer os.RemoveAll(dir)
	p.Migrate.Format, p.Migrate.Out = migrate.FormatFiles, filepath.Join(dir, "out")
	if _, err := migrate.Run(ctx, p.Migrate); err != nil {
		return Report{}, err
	}
	objs, err := kube.Load(p.Migrate.Out, p.Overlay)
	if err != nil {
		return Report{}, err
	}
	cluster, err := testbed.Start(ctx, p.Testbed...)
	if err != nil {
		return Report{}, fmt.Errorf("starting the test bed: %w", err)
	}
	defer cluster.Stop()
	return Run(ctx, cluster, objs, p.Options)
}
