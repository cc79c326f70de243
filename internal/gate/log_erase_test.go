package gate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/twin"
)

// EraseLog rewrites every file of the decision log, rotated ones too,
// without the records naming the subjects, and appending goes on after it.
func TestEraseLogFiles(t *testing.T) {
	dir := t.TempDir()
	l, err := newFileLog(dir, LogConfig{MaxFileBytes: 2000, MaxFiles: 10, SyncInterval: time.Hour, Queue: 1000}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	g := &Gate{file: l}

	rec := func(tenant, vehicle, account, ip string) *DecisionRecord {
		return &DecisionRecord{DecisionID: "gd_" + vehicle + account, Decision: "allow", Tenant: tenant, Vehicle: vehicle, Command: "lock",
			Actor: CommandActor{Account: account, IP: ip}}
	}
	for i := range 20 { // enough to rotate a few times
		l.append(rec("fleet-a", "VIN-KEEP", "acct-keep", "198.51.100.1"))
		if i%3 == 0 {
			l.append(rec("fleet-a", "VIN-GONE", "acct-keep", "198.51.100.1"))
			l.append(rec("fleet-a", "VIN-KEEP", "acct-gone", "198.51.100.1"))
			l.append(rec("fleet-b", "VIN-GONE", "acct-gone", "198.51.100.1")) // another tenant's
		}
		time.Sleep(2 * drainEvery)
	}
	// A denial of someone else whose reason names the erased account.
	transfer := rec("fleet-a", "VIN-KEEP", "acct-keep", "198.51.100.1")
	transfer.Reasons = []DecisionReason{{Code: "ownership_transferred", Message: "the vehicle changed owner to account acct-gone"}}
	l.append(transfer)
	time.Sleep(2 * drainEvery)
	if n := len(rotatedFiles(dir)); n < 3 {
		t.Fatalf("%d files; the test wants rotated ones", n)
	}
	// A record torn by a crash, naming a subject, and one longer than the
	// reader's buffer; both in a rotated file.
	old := filepath.Join(dir, rotatedFiles(dir)[0])
	f, err := os.OpenFile(old, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"decision_id":"torn","tenant":"fleet-a","vehicle":"VIN-GONE","comm` + "\n")
	f.WriteString(`{"junk":"` + strings.Repeat("x", 100<<10) + `"}` + "\n")
	f.Close()

	removed, err := g.EraseLog(context.Background(), "fleet-a", []twin.Subject{{Kind: twin.SubjectVehicle, Value: "VIN-GONE"}, {Kind: twin.SubjectAccount, Value: "acct-gone"}})
	if err != nil {
		t.Fatal(err)
	}
	if removed != 7+7+1+1 {
		t.Errorf("removed %d records, want 16", removed)
	}
	l.append(rec("fleet-a", "VIN-AFTER", "acct-keep", "198.51.100.1"))
	cancel()
	<-done

	var all strings.Builder
	for _, name := range rotatedFiles(dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	lines := strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n")
	count := map[string]int{}
	for _, line := range lines {
		switch {
		case strings.Contains(line, `"tenant":"fleet-b"`):
			count["other tenant"]++
		case strings.Contains(line, "VIN-GONE"), strings.Contains(line, "acct-gone"):
			t.Errorf("left: %s", line)
		case strings.Contains(line, "VIN-AFTER"):
			count["after"]++
		case strings.Contains(line, "VIN-KEEP"):
			count["kept"]++
		case strings.Contains(line, `"junk"`):
			count["long"]++
		default:
			t.Errorf("unexpected line %.100s", line)
		}
	}
	if count["kept"] != 20 || count["other tenant"] != 7 || count["after"] != 1 || count["long"] != 1 {
		t.Errorf("lines left: %v", count)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.erasing")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if _, err := g.EraseLog(context.Background(), "fleet-a", []twin.Subject{{Kind: twin.SubjectVehicle, Value: "x"}}); err == nil {
		t.Error("EraseLog after the writer stopped: no error")
	}
	// A copy left by a crash mid-rewrite is removed when the log opens.
	if err := os.WriteFile(filepath.Join(dir, "decisions.ndjson.erasing"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newFileLog(dir, LogConfig{MaxFileBytes: 2000, MaxFiles: 10, SyncInterval: time.Hour, Queue: 10}, t.Logf); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.erasing")); len(left) != 0 {
		t.Errorf("a crash's copy left at open: %v", left)
	}
}

func TestContainsWord(t *testing.T) {
	for _, c := range []struct {
		s, v string
		want bool
	}{
		{"changed owner to account acct-gone", "acct-gone", true},
		{"changed owner to account acct-gone.", "acct-gone", true},
		{"changed owner to account acct-gone2", "acct-gone", false},
		{"from 10.0.0.11", "10.0.0.1", false},
		{"from 10.0.0.1 and 10.0.0.1", "10.0.0.1", true},
		{"from 10.0.0.11, then 10.0.0.1", "10.0.0.1", true},
		{"device xdev-1", "dev-1", false},
		{`"actor":{"account":"acct-gone"}`, "acct-gone", true},
		{"anything", "", false},
	} {
		if got := containsWord(c.s, c.v); got != c.want {
			t.Errorf("containsWord(%q, %q) = %v, want %v", c.s, c.v, got, c.want)
		}
	}
}
