package app

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/vigil-project/vigil/internal/api"
	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/config"
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

func runUsers(ctx context.Context, args []string, s stdio) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(s.err, "Usage: vigil users create --name NAME --role ROLE --tenants a,b|* [--data-dir DIR | --postgres DSN] < password\n\n"+
			"Creates a user who signs in to the console with a password. Roles: admin, analyst, viewer. Further users are\n"+
			"managed on the console's Settings page or with the /v1/users API.")
		return fmt.Errorf("%w: name a users command: create", errUsage)
	}
	fs := newFlags("users create", "Creates a user who signs in to the console with a password, read from standard input: typed without\n"+
		"echo, twice, when it is a terminal; otherwise its first line (printf '%s\\n' \"$PW\" | vigil users create …).\n"+
		"The password must have 12 to 256 characters, not be the user name nor a common password.", s.err)
	o := storeFlags(fs)
	name := fs.String("name", "", "the user name: letters, digits, '.', '_', '-', '@', '+' (an e-mail address works)")
	role := fs.String("role", "", "admin, analyst or viewer")
	tenants := fs.String("tenants", "", "comma-separated tenants the user may act on, or * for every tenant")
	cfgPath := fs.String("config", "", "the server's configuration file, for its auth.password_hash cost (else the default)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *name == "" || *role == "" || *tenants == "" {
		return fmt.Errorf("%w: --name, --role and --tenants are required", errUsage)
	}
	var ac auth.Config
	if *cfgPath != "" {
		c, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		ac = c.Auth
	}
	password, err := readPassword(s, *name)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, *o)
	if err != nil {
		return err
	}
	defer st.Close()
	a := api.NewAuth(st)
	if err := a.Configure(ac); err != nil {
		return err
	}
	u, err := a.CreateUser(ctx, *name, *role, strings.Split(*tenants, ","), password)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.err, "user %s created: role %s, tenants %s. Sign in to the console with it.\n", u.Name, u.Role, strings.Join(u.Tenants, ","))
	return nil
}

// readPassword reads a new password from standard input: from a terminal
// without echo, twice; otherwise the first line.
func readPassword(s stdio, name string) (string, error) {
	if f, ok := s.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		read := func(prompt string) ([]byte, error) {
			fmt.Fprint(s.err, prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(s.err)
			return b, err
		}
		p1, err := read("Password for " + name + ": ")
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		p2, err := read("The same again: ")
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if string(p1) != string(p2) {
			return "", errors.New("the two passwords differ: nothing was created")
		}
		return string(p1), nil
	}
	line, err := bufio.NewReader(io.LimitReader(s.in, auth.MaxPasswordBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	switch {
	case line == "":
		return "", fmt.Errorf("%w: no password on standard input: type it at the prompt, or pipe it in as the first line", errUsage)
	case len(line) > auth.MaxPasswordBytes:
		return "", fmt.Errorf("the password on standard input is longer than %d bytes", auth.MaxPasswordBytes)
	}
	return line, nil
}
