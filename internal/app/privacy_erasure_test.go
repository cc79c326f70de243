package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/pseudo"
	"github.com/vigil-project/vigil/internal/sim"
)

// TestPrivacyErasureReachesDetection: erasing a vehicle and an account
// through the API leaves nothing of them in detection — the twin (GET
// /v1/vehicles), the gate's copy of the links an account change taught it
// (a decision that relied on them), the checkpoint saved right after —
// and a restart from that checkpoint does not bring them back.
func TestPrivacyErasureReachesDetection(t *testing.T) {
	s, err := sim.New(sim.Config{Seed: 11, Vehicles: 40, Duration: 2 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: 1})
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	var vin, tenant string
	var at int64
	err = s.Run(context.Background(), func(ev *event.Event) error {
		if vin == "" && ev.Type == event.TypeCommand && ev.Tenant != "" && ev.Tenant != event.DefaultTenant {
			vin, tenant, at = ev.Subject, ev.Tenant, ev.Time
		}
		stream.Write(append(event.AppendJSON(nil, ev), '\n'))
		return nil
	}, func(sim.Label) error { return nil })
	if err != nil || vin == "" {
		t.Fatalf("simulated stream: %v, vehicle %q", err, vin)
	}
	// The subject's account is linked to the vehicle by an account change
	// only (the directory does not know it), and commands it.
	const account = "subject-account-1"
	link := &event.Event{ID: "subject-link", Source: "tsp/accounts", Type: event.TypeAccountChange, Time: at + 1e9, Tenant: tenant,
		AccountChange: &event.AccountChange{Actor: event.Actor{Account: account, IP: "203.0.113.50"}, Account: account,
			Change: event.ChangeVehicleLinked, Vehicle: vin}}
	cmd := &event.Event{ID: "subject-cmd", Source: "tsp/api", Type: event.TypeCommand, Time: at + 2e9, Tenant: tenant, Subject: vin,
		Command: &event.Command{CommandID: "subject-cmd-1", Command: event.CmdLock, Stage: event.StageRequested, Channel: event.ChannelApp,
			Actor: event.Actor{Account: account, IP: "203.0.113.50"}}}
	for _, ev := range []*event.Event{link, cmd} {
		stream.Write(append(event.AppendJSON(nil, ev), '\n'))
	}

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "vigil.key")
	cfg := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(keyFile, privacyTestSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "privacy:\n  enabled: true\n  key_file: " + keyFile + "\n  vault: true\nengine:\n  snapshot_interval: 1s\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	o := serveOptions{DataDir: filepath.Join(dir, "data"), ConfigPath: cfg}
	ts := startServerWith(t, o)
	p, err := pseudo.New(pseudo.Options{Secret: privacyTestSecret, Default: pseudo.Settings{Fields: pseudo.AllFields}})
	if err != nil {
		t.Fatal(err)
	}
	pvin, _, _ := p.Pseudonym(tenant, pseudo.Vehicle, vin)
	pacct, _, _ := p.Pseudonym(tenant, pseudo.Account, account)
	admin := ts.key(t, "admin", tenant)
	ts.post(t, ts.key(t, "admin", "*"), stream.Bytes(), 500)
	ts.waitCaughtUp(t)

	gate := func(ts *testServer) []string {
		t.Helper()
		var dec gateDecision
		if code := ts.postJSON(t, "/v1/gate", admin, map[string]any{"tenant": tenant, "vehicle": vin, "command": "lock", "channel": "app",
			"actor": map[string]string{"account": account}}, &dec); code != 200 {
			t.Fatalf("gate: %d", code)
		}
		return dec.codes()
	}
	vehicle := func(ts *testServer) int {
		t.Helper()
		return ts.call(t, "GET", "/v1/vehicles/"+pvin+"?tenant="+tenant, admin, nil, nil, nil)
	}
	// Before: the twin is there, the learned link lets the account act, and
	// a checkpoint holds both.
	if code := vehicle(ts); code != 200 {
		t.Fatalf("the subject's vehicle before the erasure: %d", code)
	}
	if codes := gate(ts); slices.Contains(codes, "not_linked") {
		t.Fatalf("before the erasure the gate does not see the learned link: %v", codes)
	}
	// A decision about someone else, which the erasures must leave.
	const bystander = "bystander-account-1"
	pby, _, _ := p.Pseudonym(tenant, pseudo.Account, bystander)
	if code := ts.postJSON(t, "/v1/gate", admin, map[string]any{"tenant": tenant, "vehicle": "WBA00000000000001", "command": "lock",
		"actor": map[string]string{"account": bystander}}, nil); code != 200 {
		t.Fatalf("gate: %d", code)
	}
	decisionLog := func() []byte {
		t.Helper()
		var all []byte
		files, _ := filepath.Glob(filepath.Join(o.DataDir, "gate", "decisions*.ndjson"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	st := ts.srv.store
	waitCheckpoint := func(what string, ok func([]byte) bool) []byte {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			cp, err := st.LoadCheckpoint(context.Background(), "")
			if err == nil && ok(cp.Snapshot) {
				return cp.Snapshot
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitCheckpoint("holding the subject", func(b []byte) bool {
		return bytes.Contains(b, []byte(pvin)) && bytes.Contains(b, []byte(pacct))
	})

	// Erase the account first: the gate no longer finds its link.
	var er erasureJSONTest
	if code := ts.postJSON(t, "/v1/erasure", admin, map[string]string{"tenant": tenant, "kind": "account", "value": account, "reason": "request 7"}, &er); code != 200 {
		t.Fatalf("erasure of the account: %d", code)
	}
	if er.Events == 0 || !er.Detection.Checkpoint || er.Detection.States+er.Detection.References == 0 || er.Detection.DecisionRecords != 1 {
		t.Errorf("account erasure answered %+v", er)
	}
	if l := decisionLog(); bytes.Contains(l, []byte(pacct)) || !bytes.Contains(l, []byte(pby)) {
		t.Errorf("after the account's erasure the decision log files hold:\n%s", l)
	}
	if codes := gate(ts); !slices.Contains(codes, "not_linked") {
		t.Errorf("after the account's erasure the gate still links it: %v", codes)
	}
	if code := ts.postJSON(t, "/v1/erasure", admin, map[string]string{"tenant": tenant, "kind": "vehicle", "value": vin, "reason": "request 7"}, &er); code != 200 {
		t.Fatalf("erasure of the vehicle: %d", code)
	}
	if er.Events == 0 || !er.Detection.Checkpoint || er.Detection.States == 0 || er.Detection.DecisionRecords != 1 {
		t.Errorf("vehicle erasure answered %+v", er)
	}
	// The decision after the account's erasure named both again; it went
	// with the vehicle. The bystander's stays.
	if l := decisionLog(); bytes.Contains(l, []byte(pvin)) || bytes.Contains(l, []byte(pacct)) || !bytes.Contains(l, []byte(pby)) {
		t.Errorf("after the vehicle's erasure the decision log files hold:\n%s", l)
	}
	if code := vehicle(ts); code != 404 {
		t.Errorf("the erased vehicle's twin answers %d", code)
	}
	// The checkpoint saved right after holds neither pseudonym.
	cp, err := st.LoadCheckpoint(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{pvin, pacct, vin, account} {
		if bytes.Contains(cp.Snapshot, []byte(v)) {
			t.Errorf("the checkpoint after the erasure holds %s", v)
		}
	}
	// Nothing waits to be applied.
	if list, err := (pseudo.ErasureLog{Store: st}).Pending(context.Background()); err != nil || len(list) != 0 {
		t.Errorf("erasure records left: %v %v", list, err)
	}

	// A restart from that checkpoint.
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	ts = startServerWith(t, o)
	ts.waitCaughtUp(t)
	if ts.srv.proc.CheckpointStats().Restored == 0 {
		t.Error("the restart did not restore the checkpoint")
	}
	if code := vehicle(ts); code != 404 {
		t.Errorf("after the restart the erased vehicle's twin answers %d", code)
	}
	if codes := gate(ts); !slices.Contains(codes, "not_linked") {
		t.Errorf("after the restart the gate links the erased account: %v", codes)
	}
}
