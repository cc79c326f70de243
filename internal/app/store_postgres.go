package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/postgres"
)

// openPostgres opens the PostgreSQL store (the shared store of a cluster).
func openPostgres(ctx context.Context, dsn string, log *slog.Logger, o postgres.Options) (store.Store, error) {
	if err := checkPostgresTLS(dsn, log); err != nil {
		return nil, err
	}
	return postgres.Open(ctx, dsn, o)
}

// checkPostgresTLS refuses a connection to a remote PostgreSQL that would
// not verify the server's certificate, unless the DSN chooses that
// explicitly: libpq's default, sslmode=prefer, falls back to clear text and
// accepts any certificate, so every event and alert could be read or changed
// on the way. It judges what pgconn will actually do — every host of a
// multi-host DSN, the last of repeated settings — not the DSN's text.
func checkPostgresTLS(dsn string, log *slog.Logger) error {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("the PostgreSQL DSN: %w", err)
	}
	// Each host pgconn may try, with the TLS it would use there.
	type attempt struct {
		host string
		tls  *tls.Config
	}
	attempts := []attempt{{cfg.Host, cfg.TLSConfig}}
	for _, f := range cfg.Fallbacks {
		attempts = append(attempts, attempt{f.Host, f.TLSConfig})
	}
	verified, unverified, clear := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, a := range attempts {
		switch {
		case isLocalHost(a.host):
		case a.tls == nil:
			clear[a.host] = true
		case !a.tls.InsecureSkipVerify || a.tls.VerifyPeerCertificate != nil: // verify-full, or verify-ca's own check
			verified[a.host] = true
		default:
			unverified[a.host] = true
		}
	}
	for h := range clear {
		if verified[h] || unverified[h] {
			return fmt.Errorf("the PostgreSQL DSN lets the connection to %s fall back to clear text (sslmode prefer or allow, the default): "+
				"add sslmode=verify-full and sslrootcert=CA.pem (and sslcert/sslkey for client certificates), "+
				"or write sslmode=require or sslmode=disable to accept the risk", h)
		}
	}
	if len(clear)+len(unverified) > 0 && log != nil {
		log.Warn("PostgreSQL over the network without verifying its certificate: events and alerts can be read or changed on the way",
			"clear_text", slices.Sorted(maps.Keys(clear)), "unverified_tls", slices.Sorted(maps.Keys(unverified)))
	}
	return nil
}

func isLocalHost(h string) bool {
	if strings.HasPrefix(h, "/") || h == "localhost" {
		return true // a Unix socket or the loopback name
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
