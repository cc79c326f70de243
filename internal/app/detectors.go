package app

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/config"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/access"
	"github.com/vigil-project/vigil/internal/detect/command"
	"github.com/vigil-project/vigil/internal/detect/credential"
	"github.com/vigil-project/vigil/internal/detect/firmware"
	"github.com/vigil-project/vigil/internal/detect/ids"
	"github.com/vigil-project/vigil/internal/detect/mass"
	"github.com/vigil-project/vigil/internal/detect/service"
	"github.com/vigil-project/vigil/internal/detect/sms"
	"github.com/vigil-project/vigil/internal/detect/takeover"
	"github.com/vigil-project/vigil/internal/detect/telemetry"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/rules"
	"github.com/vigil-project/vigil/internal/sim"
)

// reference is what a TSP hands vigil about its fleet: entitlements, the
// cell database, trusted firmware keys and the release manifest, the SMS
// gateway's numbers. Detectors that need none of it work without it.
type reference struct {
	Directory   *directory.Directory
	Cells       telemetry.CellLookup
	TrustedKeys map[string]crypto.PublicKey
	Releases    [][32]byte
	SMSGateways []string
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
	keys := map[string]crypto.PublicKey{}
	for id, k := range s.TrustedKeys() {
		keys[id] = k
	}
	cells := telemetry.CellFunc(func(c *event.Cell) (telemetry.CellSite, bool) {
		lat, lon, ok := sim.CellLocation(*c)
		return telemetry.NewCellSite(lat, lon, 1700), ok
	})
	return reference{Directory: d, Cells: cells, TrustedKeys: keys, Releases: s.ReleaseHashes(), SMSGateways: s.SMSGateways()}
}

// loadReference reads the reference data the configuration names.
func loadReference(cfg *config.Config) (reference, error) {
	ref := reference{}
	if cfg == nil {
		return ref, nil
	}
	if cfg.Directory != "" {
		f, err := os.Open(cfg.Path(cfg.Directory))
		if err != nil {
			return ref, fmt.Errorf("directory: %w", err)
		}
		defer f.Close()
		d, err := directory.Load(f)
		if err != nil {
			return ref, fmt.Errorf("%s: %w", cfg.Path(cfg.Directory), err)
		}
		ref.Directory = d
	}
	if cfg.Cells != "" {
		f, err := os.Open(cfg.Path(cfg.Cells))
		if err != nil {
			return ref, fmt.Errorf("cells: %w", err)
		}
		defer f.Close()
		db, err := telemetry.LoadCells(f)
		if err != nil {
			return ref, fmt.Errorf("%s: %w", cfg.Path(cfg.Cells), err)
		}
		ref.Cells = db
	}
	if len(cfg.Firmware.Keys) > 0 {
		keys, err := firmware.ParseKeys(cfg.Firmware.Keys)
		if err != nil {
			return ref, fmt.Errorf("firmware.keys: %w", err)
		}
		ref.TrustedKeys = keys
	}
	for i, h := range cfg.Firmware.Releases {
		d, err := firmware.ParseDigest(h)
		if err != nil {
			return ref, fmt.Errorf("firmware.releases[%d]: %w", i, err)
		}
		ref.Releases = append(ref.Releases, d)
	}
	return ref, nil
}

// builtin is one built-in detector: its id (the configuration section's
// name) and how to build it from its configured settings.
type builtin struct {
	id        string
	perTenant bool // its settings may be overridden per tenant
	build     func(cfg *config.Config, ref reference) (detect.Detector, error)
}

// configure decodes the detector's section over its defaults and builds it.
func configure[C any](id string, conf C, mk func(C) (detect.Detector, error)) builtin {
	return builtin{id: id, build: func(cfg *config.Config, _ reference) (detect.Detector, error) {
		c := conf
		if cfg != nil {
			if err := cfg.Decode(id, &c); err != nil {
				return nil, err
			}
		}
		return mk(c)
	}}
}

// configurePerTenant is configure for detectors whose settings may differ
// per tenant: a tenant's section applies over the detector's section.
func configurePerTenant[C any](id string, conf C, mk func(detect.PerTenant[C]) (detect.Detector, error)) builtin {
	return builtin{id: id, perTenant: true, build: func(cfg *config.Config, _ reference) (detect.Detector, error) {
		pt := detect.PerTenant[C]{Default: conf}
		if cfg != nil {
			if err := cfg.Decode(id, &pt.Default); err != nil {
				return nil, err
			}
			err := cfg.DecodeTenants(id, func(tenant string, decode func(any) error) error {
				// Decode both sections into a fresh value: maps and slices
				// of the default are never shared with a tenant's.
				c := conf
				if err := cfg.Decode(id, &c); err != nil {
					return err
				}
				if err := decode(&c); err != nil {
					return err
				}
				if pt.Tenants == nil {
					pt.Tenants = map[string]*C{}
				}
				pt.Tenants[tenant] = &c
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		return mk(pt)
	}}
}

func ok(d detect.Detector) (detect.Detector, error) { return d, nil }

// builtins lists every built-in detector. ref fills in what the
// configuration file cannot hold (entitlements, keys, cells).
func builtins(ref reference) []builtin {
	return []builtin{
		configure("cmd.orphan-state-change", command.OrphanConfig{}, func(c command.OrphanConfig) (detect.Detector, error) { return ok(command.NewOrphan(c)) }),
		configure("cmd.unlinked-principal", command.UnlinkedConfig{}, func(c command.UnlinkedConfig) (detect.Detector, error) {
			c.Directory = ref.Directory
			return ok(command.NewUnlinked(c))
		}),
		configure("cmd.unrequested-execution", command.UnrequestedConfig{}, func(c command.UnrequestedConfig) (detect.Detector, error) { return ok(command.NewUnrequested(c)) }),
		configure("cmd.unsafe-command", command.UnsafeConfig{}, func(c command.UnsafeConfig) (detect.Detector, error) { return ok(command.NewUnsafe(c)) }),
		configure("fw.tampering", firmware.Config{}, func(c firmware.Config) (detect.Detector, error) {
			c.TrustedKeys, c.Releases = ref.TrustedKeys, ref.Releases
			return firmware.New(c)
		}),
		configure("sms.spoofing", sms.Config{}, func(c sms.Config) (detect.Detector, error) {
			if len(c.Gateways) == 0 {
				c.Gateways = ref.SMSGateways
			}
			return ok(sms.New(c))
		}),
		configure("telemetry.impossible-movement", telemetry.MovementConfig{}, func(c telemetry.MovementConfig) (detect.Detector, error) { return ok(telemetry.NewMovement(c)) }),
		configure("telemetry.gps-cell-mismatch", telemetry.CellConfig{}, func(c telemetry.CellConfig) (detect.Detector, error) {
			c.Cells = ref.Cells
			return ok(telemetry.NewCell(c))
		}),
		configure("telemetry.integrity", telemetry.IntegrityConfig{}, func(c telemetry.IntegrityConfig) (detect.Detector, error) { return ok(telemetry.NewIntegrity(c)) }),
		configure("ids.reports", ids.ReportsConfig{}, func(c ids.ReportsConfig) (detect.Detector, error) { return ok(ids.NewReports(c)) }),
		configure("ids.fleet-campaign", ids.CampaignConfig{}, func(c ids.CampaignConfig) (detect.Detector, error) { return ok(ids.NewCampaign(c)) }),
		configure("cred.login-failures", credential.Config{}, func(c credential.Config) (detect.Detector, error) { return ok(credential.New(c)) }),
		configurePerTenant("cred.stuffing", credential.StuffingConfig{}, func(c detect.PerTenant[credential.StuffingConfig]) (detect.Detector, error) {
			return ok(credential.NewStuffing(c))
		}),
		configurePerTenant("cred.pin-guessing", credential.PINConfig{}, func(c detect.PerTenant[credential.PINConfig]) (detect.Detector, error) {
			return ok(credential.NewPIN(c))
		}),
		configurePerTenant("ato.takeover", takeover.Config{}, func(c detect.PerTenant[takeover.Config]) (detect.Detector, error) {
			return ok(takeover.New(c))
		}),
		configurePerTenant("mass.command-spread", mass.Config{}, func(c detect.PerTenant[mass.Config]) (detect.Detector, error) {
			return mass.New(ref.Directory, c)
		}),
		configurePerTenant("access.exfiltration", access.ExfilConfig{}, func(c detect.PerTenant[access.ExfilConfig]) (detect.Detector, error) {
			return access.NewExfiltration(ref.Directory, c)
		}),
		configurePerTenant("access.privileged", access.PrivilegedConfig{}, func(c detect.PerTenant[access.PrivilegedConfig]) (detect.Detector, error) {
			return access.NewPrivileged(ref.Directory, c)
		}),
		configurePerTenant("service.tenant-health", service.Config{}, func(c detect.PerTenant[service.Config]) (detect.Detector, error) {
			return ok(service.New(c))
		}),
	}
}

// configuredDetectors builds every built-in detector with its defaults,
// overridden by the configuration's sections.
func configuredDetectors(cfg *config.Config, ref reference) ([]detect.Detector, error) {
	list := builtins(ref)
	known := map[string]bool{}
	perTenant := map[string]bool{}
	for _, b := range list {
		known[b.id] = true
		perTenant[b.id] = b.perTenant
	}
	if cfg != nil {
		for _, id := range cfg.DetectorIDs() {
			if !known[id] {
				return nil, fmt.Errorf("config: detectors.%s: no such detector (vigil detectors lists them)", id)
			}
		}
		for name, t := range cfg.Tenants {
			for id := range t.Detectors {
				// A mode alone is the engine's business: any detector takes one per tenant.
				if !perTenant[id] && cfg.TenantSettings(name, id) {
					return nil, fmt.Errorf("config: tenants.%s.detectors.%s: this detector's settings are the same for every tenant", name, id)
				}
			}
		}
	}
	out := make([]detect.Detector, 0, len(list))
	for _, b := range list {
		d, err := b.build(cfg, ref)
		if err != nil {
			return nil, fmt.Errorf("detector %s: %w", b.id, err)
		}
		if got := d.Info().ID; got != b.id {
			return nil, fmt.Errorf("detector %s calls itself %s", b.id, got)
		}
		out = append(out, d)
	}
	return out, nil
}

// builtinDetectors returns every built-in detector with its defaults,
// configured with ref.
func builtinDetectors(ref reference) []detect.Detector {
	dets, err := configuredDetectors(nil, ref)
	if err != nil {
		panic(err) // the defaults always build; TestBuiltinDetectors holds them to it
	}
	return dets
}

// detectorSet is what a run detects with: every built-in detector,
// configured, plus one rules detector over srcs (none when srcs is empty).
type detectorSet struct {
	all   []detect.Detector
	rules *rules.Detector // nil without rules
	set   *rules.RuleSet
	// modes says which detectors are in shadow mode or off, for which
	// tenants (engine.Options.Filter applies it); off lists the built-in
	// detectors off for every tenant, left out of all.
	modes *alert.Modes
	off   []detect.Info
}

func newDetectorSet(cfg *config.Config, ref reference, srcs []rules.Source, log *slog.Logger) (*detectorSet, error) {
	dets, err := configuredDetectors(cfg, ref)
	if err != nil {
		return nil, err
	}
	ds := &detectorSet{modes: alert.NewModes(nil, nil)}
	if cfg != nil {
		ds.modes = alert.NewModes(cfg.DetectorModes())
	}
	for _, d := range dets {
		if ds.modes.Runs(d.Info().ID) {
			ds.all = append(ds.all, d)
		} else {
			ds.off = append(ds.off, d.Info())
		}
	}
	if len(srcs) == 0 {
		return ds, nil
	}
	set, err := rules.Compile(rules.Limits{}, srcs...)
	if err != nil {
		return nil, err
	}
	ds.set = set
	ds.rules = rules.NewDetector(set, rules.Options{Logger: log})
	ds.all = append(ds.all, ds.rules)
	return ds, nil
}

// ruleSourcesFor returns the rule sources of a run: the embedded pack and
// the user's directory (from the flag, else the configuration), or none.
func ruleSourcesFor(cfg *config.Config, dirFlag string, noRules bool) ([]rules.Source, error) {
	if noRules {
		return nil, nil
	}
	dir := dirFlag
	if dir == "" && cfg != nil && cfg.Rules != "" {
		dir = cfg.Path(cfg.Rules)
	}
	return ruleSources(dir, false)
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
