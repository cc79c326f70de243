package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/postgres"
)

// openPostgres opens the PostgreSQL store (the shared store of a cluster).
func openPostgres(ctx context.Context, dsn string, log *slog.Logger) (store.Store, error) {
	if err := checkPostgresTLS(dsn, log); err != nil {
		return nil, err
	}
	return postgres.Open(ctx, dsn, postgres.Options{})
}

// checkPostgresTLS refuses a connection to a remote PostgreSQL that would
// not verify the server's certificate, unless the DSN says so explicitly:
// libpq's default, sslmode=prefer, falls back to clear text and accepts any
// certificate, so every event and alert could be read or changed on the way.
func checkPostgresTLS(dsn string, log *slog.Logger) error {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("the PostgreSQL DSN: %w", err)
	}
	if isLocalHost(cfg.Host) {
		return nil
	}
	mode := sslMode(dsn)
	switch mode {
	case "verify-full", "verify-ca":
		return nil
	case "disable", "allow", "require":
		if log != nil {
			log.Warn("PostgreSQL over the network without verifying its certificate: events and alerts can be read or changed on the way",
				"host", cfg.Host, "sslmode", mode)
		}
		return nil
	}
	return fmt.Errorf("the PostgreSQL DSN names a remote host (%s) without sslmode=verify-full: the connection could fall back to clear text "+
		"or trust any certificate. Add sslmode=verify-full and sslrootcert=CA.pem (and sslcert/sslkey for client certificates), "+
		"or write sslmode=require or sslmode=disable to accept the risk", cfg.Host)
}

func isLocalHost(h string) bool {
	if strings.HasPrefix(h, "/") || h == "localhost" {
		return true // a Unix socket or the loopback name
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// sslMode finds sslmode in a URL or key=value DSN, or in $PGSSLMODE, as
// pgconn does; "" when unset (libpq's prefer).
func sslMode(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if _, q, ok := strings.Cut(dsn, "?"); ok {
			for _, kv := range strings.Split(q, "&") {
				if k, v, _ := strings.Cut(kv, "="); k == "sslmode" {
					return v
				}
			}
		}
	} else {
		for _, f := range strings.Fields(dsn) {
			if k, v, _ := strings.Cut(f, "="); k == "sslmode" {
				return strings.Trim(v, "'")
			}
		}
	}
	return envSSLMode()
}

var envSSLMode = func() string { return os.Getenv("PGSSLMODE") }
