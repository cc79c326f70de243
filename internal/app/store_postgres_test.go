package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPostgresTLSPolicy(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, newTestCA(t, "db CA").pem, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dsn     string
		refused bool
	}{
		{"postgres://vigil@127.0.0.1:5432/test", false},
		{"host=/var/run/postgresql dbname=test", false},
		{"postgres://vigil@localhost/test", false},
		{"postgres://vigil@db.example.org/test", true},
		{"postgres://vigil@db.example.org/test?sslmode=prefer", true},
		{"postgres://vigil@db.example.org/test?sslmode=verify-full&sslrootcert=CA", false},
		{"host=db.example.org dbname=test sslmode=verify-ca sslrootcert=CA", false},
		{"host=db.example.org dbname=test", true},
		{"postgres://vigil@10.0.0.5/test?sslmode=disable", false}, // explicit: allowed, with a warning
		{"postgres://vigil@10.0.0.5/test?sslmode=require", false},
		// What pgconn does, not what the text says first:
		{"postgres://vigil@localhost,db.example.org/test", true},                          // the second host may be reached in clear
		{"host=127.0.0.1,db.example.org dbname=test", true},                               // likewise
		{"host=db.example.org dbname=test sslmode=verify-full sslmode=prefer", true},      // the last setting wins
		{"postgres://vigil@db.example.org/test?sslmode=verify-full&sslmode=prefer", true}, // likewise in a URL
		{"postgres://vigil@localhost,db.example.org/test?sslmode=verify-full&sslrootcert=CA", false},
	}
	for _, c := range cases {
		c.dsn = strings.ReplaceAll(c.dsn, "CA", ca)
		err := checkPostgresTLS(c.dsn, nil)
		if (err != nil) != c.refused {
			t.Errorf("%s: err %v, refused want %v", c.dsn, err, c.refused)
		}
		if c.refused && err != nil && !strings.Contains(err.Error(), "sslmode=verify-full") && !strings.Contains(err.Error(), "clear text") {
			t.Errorf("%s: the error does not say what to do: %v", c.dsn, err)
		}
	}
}
