package app

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/command"
	"github.com/vigil-project/vigil/internal/detect/credential"
	"github.com/vigil-project/vigil/internal/detect/telemetry"
)

// builtinDetectors returns a fresh set of every built-in detector with its
// default configuration.
func builtinDetectors() []detect.Detector {
	return []detect.Detector{
		command.NewOrphan(command.OrphanConfig{}),
		telemetry.NewMovement(telemetry.MovementConfig{}),
		credential.New(credential.Config{}),
	}
}

func runDetectors(_ context.Context, args []string, s stdio) error {
	fs := newFlags("detectors", "Lists the built-in detectors, their categories and what makes them fire.", s.err)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCATEGORY\tDESCRIPTION")
	for _, d := range builtinDetectors() {
		i := d.Info()
		fmt.Fprintf(tw, "%s\t%s\t%s\n", i.ID, i.Category, i.Description)
	}
	return tw.Flush()
}
