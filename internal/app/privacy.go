package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"github.com/vigil-project/vigil/internal/config"
	"github.com/vigil-project/vigil/internal/detect/sms"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/processor"
	"github.com/vigil-project/vigil/internal/pseudo"
	"github.com/vigil-project/vigil/internal/store"
)

// privacyOptions reads the privacy section: the pseudonymiser's options,
// nil when the file asks for neither pseudonymisation nor rounding. It
// loads the key file, so a missing or short key stops the server before
// it takes any event.
func privacyOptions(cfg *config.Config, ref reference, log *slog.Logger) (*pseudo.Options, error) {
	if cfg == nil {
		return nil, nil
	}
	pc := cfg.Privacy
	o := &pseudo.Options{Default: privacySettings(pc.For("")), Tenants: map[string]pseudo.Settings{}, Logger: log}
	active := o.Default != (pseudo.Settings{})
	for name := range pc.Tenants {
		o.Tenants[name] = privacySettings(pc.For(name))
		active = active || o.Tenants[name] != (pseudo.Settings{})
	}
	if !active {
		return nil, nil
	}
	if pc.Pseudonymises() {
		secret, insecure, err := pseudo.LoadSecret(cfg.Path(pc.KeyFile))
		if err != nil {
			return nil, err
		}
		if insecure && log != nil {
			log.Warn("privacy.key_file may be read by other users: chmod 600 it", "file", cfg.Path(pc.KeyFile))
		}
		o.Secret = secret
	}
	// The SMS gateway's own numbers stay as they are: they are the TSP's,
	// and the spoofing detector's allow-list names them.
	var sc sms.Config
	if err := cfg.Decode("sms.spoofing", &sc); err != nil {
		return nil, err
	}
	o.KeepPhones = sc.Gateways
	if len(o.KeepPhones) == 0 {
		o.KeepPhones = ref.SMSGateways
	}
	o.KeepPhonesByTenant = sc.Tenants
	return o, nil
}

// privacySettings maps a tenant's configured settings to the
// pseudonymiser's.
func privacySettings(s config.PrivacySettings) pseudo.Settings {
	out := pseudo.Settings{LocationDecimals: s.LocationDecimals}
	if !s.Enabled {
		return out
	}
	f := s.Fields
	for _, x := range []struct {
		on *bool
		k  pseudo.Kind
	}{{f.VINs, pseudo.Vehicle}, {f.Accounts, pseudo.Account}, {f.Emails, pseudo.Email}, {f.Phones, pseudo.Phone},
		{f.IPs, pseudo.IP}, {f.Devices, pseudo.Device}, {f.Clients, pseudo.Client}, {f.Units, pseudo.Unit}} {
		if config.On(x.on) {
			out.Fields = out.Fields.With(x.k)
		}
	}
	return out
}

// privacyReference is pseudonymiseReference with the pseudonymiser of o
// (nil: privacy off, ref as it is).
func privacyReference(ref reference, o *pseudo.Options) (reference, error) {
	if o == nil {
		return ref, nil
	}
	p, err := pseudo.New(*o)
	if err != nil {
		return ref, err
	}
	return pseudonymiseReference(ref, p)
}

// replayPseudonymiser is what vigil replay pseudonymises events with: the
// server's settings and key, without a vault (a replay stores nothing; its
// pseudonyms re-identify through the server's vault when the server has
// seen the values). Nil when the file pseudonymises no field: rounding
// alone changes only the archived copy, never what detection sees.
func replayPseudonymiser(cfg *config.Config, ref reference) (*pseudo.Pseudonymiser, error) {
	o, err := privacyOptions(cfg, ref, nil)
	if err != nil || o == nil {
		return nil, err
	}
	fields := o.Default.Fields
	for _, s := range o.Tenants {
		fields |= s.Fields
	}
	if fields == 0 {
		return nil, nil
	}
	return pseudo.New(*o)
}

// newPseudonymiser builds the server's pseudonymiser, with the store's
// configuration table as its vault when the file asks for one; nil when
// privacy is off.
func newPseudonymiser(cfg *config.Config, o *pseudo.Options, st store.Store, log *slog.Logger) (*pseudo.Pseudonymiser, error) {
	if o == nil {
		return nil, nil
	}
	oo := *o
	if cfg.Privacy.Vault {
		oo.Vault = st
	}
	p, err := pseudo.New(oo)
	if err != nil {
		return nil, err
	}
	warnClearSuppressions(cfg, p, log)
	return p, nil
}

// erasureLog hands the erasures pseudo.Erase records (by the API or by
// vigil privacy erase) to the processor, which applies them to detection.
type erasureLog struct{ l pseudo.ErasureLog }

var _ processor.Erasures = erasureLog{}

func (e erasureLog) Pending(ctx context.Context) ([]processor.Erasure, error) {
	list, err := e.l.Pending(ctx)
	out := make([]processor.Erasure, len(list))
	for i, x := range list {
		out[i] = processor.Erasure{ID: x.ID, Tenant: x.Tenant, Subjects: x.Subjects}
	}
	return out, err
}

func (e erasureLog) Done(ctx context.Context, ids []string) error { return e.l.Done(ctx, ids) }

// pseudonymiseReference returns the reference data as detection sees it
// when events are pseudonymised: the directory's principals and vehicles
// become their pseudonyms, with the tenant's own settings. The other
// reference data names nobody (cells, firmware keys and digests), and the
// SMS gateway's numbers are kept as they are (see privacyOptions).
func pseudonymiseReference(ref reference, p *pseudo.Pseudonymiser) (reference, error) {
	if p == nil || ref.Directory == nil {
		return ref, nil
	}
	d := directory.New()
	var err error
	ref.Directory.Each(func(tenant string, k directory.Kind, id, vehicle string, role event.Role) {
		kind := pseudo.Account
		if k == directory.Client {
			kind = pseudo.Client
		}
		pid, _, _, e1 := p.Stored(tenant, kind, id)
		v := vehicle
		var e2 error
		if v != "" {
			v, _, _, e2 = p.Stored(tenant, pseudo.Vehicle, vehicle)
		}
		if e := errors.Join(e1, e2); e != nil && err == nil {
			err = fmt.Errorf("directory: %w", e)
		}
		d.Link(tenant, k, pid, v, role)
	})
	ref.Directory = d
	return ref, err
}

// warnClearSuppressions logs suppressions whose entity cannot be a
// pseudonym in a tenant that pseudonymises: alerts there name pseudonyms,
// so such a suppression never matches. Rules and suppressions are written
// by people; docs/privacy.md tells them to write pseudonyms.
func warnClearSuppressions(cfg *config.Config, p *pseudo.Pseudonymiser, log *slog.Logger) {
	if cfg == nil || p == nil || log == nil {
		return
	}
	for i, s := range cfg.Suppressions {
		if s.Entity == "" {
			continue
		}
		if _, ok := pseudo.KindOf(s.Entity); ok {
			continue
		}
		if s.Tenant == "*" || p.Settings(s.Tenant).Fields != 0 {
			log.Warn("a suppression names a value that is not a pseudonym, and alerts name pseudonyms: it will not match; "+
				"write the pseudonym (vigil privacy pseudonymise)", "suppression", i, "entity", s.Entity)
		}
	}
}

func runPrivacy(ctx context.Context, args []string, s stdio) error {
	usage := "Usage: vigil privacy keygen FILE\n" +
		"       vigil privacy pseudonymise --config FILE --tenant T --kind KIND VALUE...\n" +
		"       vigil privacy erase --config FILE [--data-dir DIR | --postgres DSN] --tenant T --kind KIND --value V --reason TEXT\n\n" +
		"  keygen        write a new master secret for privacy.key_file (32 random bytes, mode 0600; never overwrites)\n" +
		"  pseudonymise  print what values are stored as in the tenant: for rules, suppressions and searches\n" +
		"  erase         erase one data subject from the store (audited; the server may keep running)\n\n" +
		"Kinds: " + pseudo.KindList() + " (docs/privacy.md)"
	if len(args) == 0 {
		fmt.Fprintln(s.err, usage)
		return fmt.Errorf("%w: name a privacy command: keygen, pseudonymise or erase", errUsage)
	}
	switch args[0] {
	case "keygen":
		if len(args) != 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintln(s.err, usage)
			return fmt.Errorf("%w: keygen takes the file to create", errUsage)
		}
		if err := pseudo.WriteSecret(args[1]); err != nil {
			return err
		}
		fmt.Fprintf(s.out, "wrote %s: set privacy.key_file to it and keep a copy where backups are kept:\n"+
			"without it no pseudonym can be computed again and the vault cannot be read.\n", args[1])
		return nil
	case "pseudonymise":
		return runPseudonymise(args[1:], s)
	case "erase":
		return runErase(ctx, args[1:], s)
	}
	fmt.Fprintln(s.err, usage)
	return fmt.Errorf("%w: unknown privacy command %q", errUsage, args[0])
}

// loadPrivacy reads a configuration file and builds its pseudonymiser
// (without a vault); nil when the file turns pseudonymisation off.
func loadPrivacy(path string) (*config.Config, *pseudo.Pseudonymiser, error) {
	if path == "" {
		return nil, nil, fmt.Errorf("%w: --config FILE is required: it names the key file and the settings", errUsage)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	o, err := privacyOptions(cfg, reference{}, nil)
	if err != nil || o == nil {
		return cfg, nil, err
	}
	p, err := pseudo.New(*o)
	return cfg, p, err
}

func runPseudonymise(args []string, s stdio) error {
	fs := newFlags("privacy pseudonymise --config FILE --tenant T --kind KIND VALUE...",
		"Prints, one a line, what each value is stored as in the tenant: its pseudonym when the tenant pseudonymises\n"+
			"its kind, else the value itself. For ip, a prefix of 8, 16, 24, … bits prints the prefix its addresses map to.", s.err)
	cfgPath := fs.String("config", "", "the configuration file (its privacy section and key file)")
	tenant := fs.String("tenant", event.DefaultTenant, "the tenant")
	kindName := fs.String("kind", "", "what the values are: "+pseudo.KindList())
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	k, ok := pseudo.ParseKind(*kindName)
	if !ok {
		return fmt.Errorf("%w: --kind %q is not one of %s", errUsage, *kindName, pseudo.KindList())
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: name at least one value", errUsage)
	}
	_, p, err := loadPrivacy(*cfgPath)
	if err != nil {
		return err
	}
	for _, v := range fs.Args() {
		if prefix, perr := netip.ParsePrefix(v); k == pseudo.IP && perr == nil && p != nil && p.Settings(*tenant).Fields.Has(pseudo.IP) {
			q, err := p.Prefix(*tenant, prefix)
			if err != nil {
				return err
			}
			fmt.Fprintln(s.out, q)
			continue
		}
		stored, _, _, err := p.Stored(*tenant, k, v)
		if err != nil {
			return err
		}
		fmt.Fprintln(s.out, stored)
	}
	return nil
}

func runErase(ctx context.Context, args []string, s stdio) error {
	fs := newFlags("privacy erase --config FILE --tenant T --kind KIND --value V --reason TEXT",
		"Erases one data subject of a tenant: every archived event, alert and incident naming the value or its\n"+
			"pseudonym, and its vault entry. The audit log records the reason and the counts, never the value.", s.err)
	o := storeFlags(fs)
	cfgPath := fs.String("config", "", "the configuration file (its privacy section and key file)")
	tenant := fs.String("tenant", "", "the tenant")
	kindName := fs.String("kind", "", "what the value is: vehicle, account, email, phone, ip, device or client")
	value := fs.String("value", "", "the value as the producer sent it")
	reason := fs.String("reason", "", "why (e.g. the request's reference): kept in the audit log")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	k, ok := pseudo.ParseKind(*kindName)
	switch {
	case !ok || k == pseudo.Unit:
		return fmt.Errorf("%w: --kind %q: want vehicle, account, email, phone, ip, device or client", errUsage, *kindName)
	case !store.ValidTenant(*tenant):
		return fmt.Errorf("%w: --tenant %q is not a tenant name", errUsage, *tenant)
	case *value == "" || strings.TrimSpace(*reason) == "":
		return fmt.Errorf("%w: --value and --reason are required", errUsage)
	}
	cfg, p, err := loadPrivacy(*cfgPath)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, *o)
	if err != nil {
		return err
	}
	defer st.Close()
	if p != nil && cfg.Privacy.Vault {
		opts, err := privacyOptions(cfg, reference{}, nil)
		if err != nil {
			return err
		}
		opts.Vault = st
		if p, err = pseudo.New(*opts); err != nil {
			return err
		}
	}
	actor := "cli"
	if u := os.Getenv("USER"); u != "" {
		actor = "cli:" + u
	}
	// Detection runs in the server, which applies the recorded erasure.
	er, err := pseudo.Erase(ctx, st, p, store.AllTenants(), actor, *tenant, k, *value, *reason, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "erased from tenant %s: %d events, %d alerts, %d incidents", *tenant, er.Events, er.Alerts, er.Incidents)
	if er.Pseudonymised {
		fmt.Fprintf(s.out, " (as %s %s; vault entry deleted: %v)", er.Kind, er.Stored, er.VaultEntry)
	}
	fmt.Fprintln(s.out, "\nThe server that runs detection on this store erases what it derived from them (its state and checkpoint) within "+
		"seconds, or when it next starts: see docs/privacy.md.")
	return nil
}
