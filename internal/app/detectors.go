package app

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/command"
	"github.com/vigil-project/vigil/internal/detect/credential"
	"github.com/vigil-project/vigil/internal/detect/telemetry"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/sim"
)

// reference is what a TSP hands vigil about its fleet: entitlements, trusted
// firmware keys, the release manifest. Detectors that need none of it work
// without it.
type reference struct {
	Directory *directory.Directory
}

// referenceFromSim is the reference data of a simulated fleet.
func referenceFromSim(s *sim.Simulator) reference {
	d := directory.New()
	for l := range s.Links() {
		if l.ClientID != "" {
			d.Link(l.Tenant, directory.Client, l.ClientID, l.Vehicle, l.Role)
		} else {
			d.Link(l.Tenant, directory.Account, l.Account, l.Vehicle, l.Role)
		}
	}
	return reference{Directory: d}
}

// builtinDetectors returns a fresh set of every built-in detector,
// configured with ref.
func builtinDetectors(ref reference) []detect.Detector {
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
	for _, d := range builtinDetectors(reference{}) {
		i := d.Info()
		fmt.Fprintf(tw, "%s\t%s\t%s\n", i.ID, i.Category, i.Description)
	}
	return tw.Flush()
}
