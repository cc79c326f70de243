package app

import (
	"context"
	"fmt"

	"github.com/vigil-project/vigil/internal/config"
)

func runCheckConfig(_ context.Context, args []string, s stdio) error {
	fs := newFlags("check-config --config FILE",
		"Loads a configuration file the way serve and replay do — strict YAML, the directory, the cell database,\n"+
			"firmware keys and manifest, every detector's settings and the rules — and reports the first problem\n"+
			"with its place. Exit code 0 when everything loads.", s.err)
	path := fs.String("config", "", "the configuration file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("%w: --config FILE is required", errUsage)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	ref, err := loadReference(cfg)
	if err != nil {
		return err
	}
	srcs, err := ruleSourcesFor(cfg, "", false)
	if err != nil {
		return err
	}
	ds, err := newDetectorSet(cfg, ref, srcs, nil)
	if err != nil {
		return err
	}
	sinks, err := newSinks(cfg, nil, nil) // reads each sink's secret and TLS files; connects nowhere
	if err != nil {
		return err
	}
	sinks.Close()
	brokers, err := newSources(cfg, nil, nil) // reads each source's secret and TLS files; connects nowhere
	if err != nil {
		return err
	}
	rp, err := oidcRelyingParty(cfg, nil, nil) // reads the OIDC client secret and TLS files; asks the provider nothing
	if err != nil {
		return err
	}
	privOpts, err := privacyOptions(cfg, ref, nil) // reads the key file
	if err != nil {
		return err
	}
	if _, err := privacyReference(ref, privOpts); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "%s: ok\n", *path)
	builtins := len(ds.all)
	if ds.rules != nil {
		builtins-- // the rules detector
	}
	fmt.Fprintf(s.out, "  detectors: %d built-in", builtins)
	if ds.set != nil {
		fmt.Fprintf(s.out, ", rules: %d", len(ds.set.Rules()))
	}
	fmt.Fprintln(s.out)
	if n := sinks.Len(); n > 0 {
		fmt.Fprintf(s.out, "  sinks: %d\n", n)
	}
	if len(brokers.runs) > 0 {
		fmt.Fprintf(s.out, "  broker sources: mqtt %d, nats %d, kafka %d\n", brokers.kinds["mqtt"], brokers.kinds["nats"], brokers.kinds["kafka"])
	}
	if len(ds.off) > 0 {
		fmt.Fprintf(s.out, "  detectors off: %d\n", len(ds.off))
	}
	fmt.Fprintf(s.out, "  directory: %v, cells: %v, firmware keys: %d, releases: %d\n",
		ref.Directory != nil, ref.Cells != nil, len(ref.TrustedKeys), len(ref.Releases))
	if rp != nil {
		fmt.Fprintf(s.out, "  oidc sign-in: %s (%s)\n", rp.Name(), rp.Issuer())
	}
	if privOpts != nil {
		fmt.Fprintf(s.out, "  privacy: pseudonymisation %v, vault %v, location decimals %d\n",
			cfg.Privacy.Pseudonymises(), cfg.Privacy.Vault, cfg.Privacy.LocationDecimals)
	}
	return nil
}
