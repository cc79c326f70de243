package app

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/api"
	"github.com/vigil-project/vigil/internal/store"
)

// storeFlags are the flags that name a store, for admin commands.
func storeFlags(fs *flag.FlagSet) *serveOptions {
	o := &serveOptions{}
	fs.StringVar(&o.DataDir, "data-dir", "vigil-data", "directory of the embedded SQLite store")
	fs.StringVar(&o.Postgres, "postgres", "", "PostgreSQL DSN of the store (instead of --data-dir)")
	return o
}

func runAudit(ctx context.Context, args []string, s stdio) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		fmt.Fprintln(s.err, "Usage: vigil audit verify|export [--data-dir DIR | --postgres DSN]\n\n"+
			"  verify   walk the hash chain of the audit log and report the first broken entry (exit 1)\n"+
			"  export   write every entry as one JSON object a line, in chain order")
		return fmt.Errorf("%w: name an audit command: verify or export", errUsage)
	}
	cmd := args[0]
	fs := newFlags("audit "+cmd, "Reads the audit log of a store (a running server may keep writing to it).", s.err)
	o := storeFlags(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	st, err := openStore(ctx, *o)
	if err != nil {
		return err
	}
	defer st.Close()
	if cmd == "verify" {
		rep, err := st.VerifyAudit(ctx, store.AllTenants())
		if err != nil {
			return err
		}
		if rep.Broken != nil {
			return fmt.Errorf("the audit log is broken at entry %d: %s (%d entries checked)", rep.Broken.Seq, rep.Broken.Reason, rep.Entries)
		}
		fmt.Fprintf(s.out, "audit log intact: %d entries, last %d, head %s\n", rep.Entries, rep.LastSeq, hex.EncodeToString(rep.Head))
		fmt.Fprintln(s.out, "(keep the head outside vigil: a later verify that ends before it reveals a truncated log)")
		return nil
	}
	enc := json.NewEncoder(s.out)
	after := int64(0)
	for {
		entries, err := st.ExportAudit(ctx, store.AllTenants(), store.AuditQuery{AfterSeq: after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := enc.Encode(map[string]any{"seq": e.Seq, "time": time.Unix(0, e.Time).UTC().Format(time.RFC3339Nano),
				"actor": e.Actor, "action": e.Action, "tenant": e.Tenant, "target": e.Target, "detail": json.RawMessage(orNull(e.Detail)),
				"prev_hash": hex.EncodeToString(e.PrevHash), "hash": hex.EncodeToString(e.Hash)}); err != nil {
				return err
			}
			after = e.Seq
		}
		if len(entries) < 1000 {
			return nil
		}
	}
}

func orNull(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

func runKeys(ctx context.Context, args []string, s stdio) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(s.err, "Usage: vigil keys create --role ROLE [--tenants a,b|*] [--name NAME] [--data-dir DIR | --postgres DSN]\n\n"+
			"Creates an API key and prints it once; only its hash is stored. Roles: admin, analyst, viewer, ingest, gate.")
		return fmt.Errorf("%w: name a keys command: create", errUsage)
	}
	fs := newFlags("keys create", "Creates an API key in the store and prints it once (only its hash is kept).", s.err)
	o := storeFlags(fs)
	role := fs.String("role", "", "admin, analyst, viewer, ingest or gate")
	tenants := fs.String("tenants", "", "comma-separated tenants the key may act on, or * for every tenant")
	name := fs.String("name", "", "what the key is for (kept with it, shown in the audit log)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *role == "" || *tenants == "" {
		return fmt.Errorf("%w: --role and --tenants are required", errUsage)
	}
	st, err := openStore(ctx, *o)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, k, err := api.NewAuth(st).Create(ctx, *role, strings.Split(*tenants, ","), *name)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "%s\n", secret)
	fmt.Fprintf(s.err, "key %s created: role %s, tenants %s. It is shown this once.\n", k.ID, k.Role, strings.Join(k.Tenants, ","))
	return nil
}
