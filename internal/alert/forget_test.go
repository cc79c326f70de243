package alert

import (
	"bytes"
	"testing"
)

// TestManagerForget: after an erasure the manager no longer recognises the
// subject's alerts as repeats nor groups by it, and its snapshot does not
// name it; other subjects keep both.
func TestManagerForget(t *testing.T) {
	m := NewManager(ManagerOptions{})
	mk := func(id, account string, at int64) *Alert {
		return &Alert{ID: id, Tenant: "t", Detector: "d", Time: at, FirstSeen: at, LastSeen: at, Entities: Entities{Account: account, IP: "192.0.2.1"}}
	}
	m.Add(mk("a1", "acct-gone", 1e9))
	m.Add(mk("a2", "acct-kept", 1e9))
	if n := m.Forget("u", Entities{Account: "acct-gone"}); n != 0 {
		t.Errorf("another tenant: %d forgotten", n)
	}
	if n := m.Forget("t", Entities{Account: "acct-gone"}); n != 2 { // its incident key and its fingerprint
		t.Errorf("%d forgotten, want 2", n)
	}
	var b bytes.Buffer
	if err := m.Snapshot(&b); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b.Bytes(), []byte("acct-gone")) || !bytes.Contains(b.Bytes(), []byte("acct-kept")) {
		t.Error("the snapshot still names the erased account, or no longer the other")
	}
	if !m.Add(mk("a3", "acct-gone", 2e9)) {
		t.Error("a new alert on the erased account was taken for a repeat")
	}
	if m.Add(mk("a4", "acct-kept", 2e9)) {
		t.Error("the other account's repeat was not recognised")
	}
}
