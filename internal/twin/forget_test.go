package twin

import (
	"bytes"
	"testing"

	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/snapshot"
)

// TestForget: what other keys remember about an erased subject goes, and
// nothing about anyone else does. The check is on the snapshot encoding:
// what a checkpoint would keep.
func TestForget(t *testing.T) {
	ref := event.Ref{Source: "gw", ID: "e-1"}
	const (
		acct, other     = "acct-erased", "acct-kept"
		ip, otherIP     = "198.51.100.77", "198.51.100.78"
		dev, otherDev   = "dev-erased", "dev-kept"
		veh, otherVeh   = "VIN-ERASED-00001", "VIN-KEPT-0000001"
		phone, otherSMS = "+49170000001", "+49170000002"
	)
	v := Vehicle{LastEvent: 10}
	a := v.Activity()
	a.Principals = []string{other, acct}
	m := v.More()
	m.Links = &Links{List: []Link{{Account: acct, At: 5, Linked: true, Ref: ref}, {Account: other, At: 6, Linked: true, Ref: ref}},
		Transfer: Transfer{At: 6, To: acct, Ref: ref}}
	m.Awaiting = []Awaiting{{Kind: AwaitRequested, Who: acct, What: "unlock"}, {Kind: AwaitSMSCommand, Who: phone}, {Kind: AwaitSMSCommand, Who: otherSMS}}

	p := Principal{LastSeen: 10,
		Failures: &FailureWindow{List: []Failure{{At: 1, Other: ip}, {At: 2, Other: otherIP}, {At: 3, Other: "username:" + acct}}},
		Links:    &LinkSet{List: []LinkChange{{Vehicle: veh, Linked: true}, {Vehicle: otherVeh}}},
		Logins: &LoginWindow{List: []LoginAttempt{{At: 4, Who: HashID(acct), IP: otherIP, Account: acct}, {At: 5, Who: HashID(other), IP: ip, Account: other},
			{At: 6, Who: HashID(other), IP: otherIP, Account: other}}},
		PIN:      &DeviceFailures{Fails: FailureWindow{List: []Failure{{At: 7, Other: acct}, {At: 8, Other: other}}}},
		Takeover: &TakeoverTrail{ChangeAt: 9, ChangeIP: ip, AddedAt: 9, AddedDevice: dev},
		Devices:  &KnownDevices{H: [4]uint32{DeviceHash(otherDev), DeviceHash(dev), 7}, N: 3, Pending: &NewDeviceLogin{Device: dev, IP: otherIP}},
		Spread:   &Spread{Vehicles: HitWindow{List: []Hit{{Key: HashID(veh), Name: veh}, {Key: HashID(otherVeh), Name: otherVeh}}}},
		Reads: &ReadState{Unlinked: &HitWindow{List: []Hit{{Key: HashID(veh), Name: veh}}}, IPs: &HitWindow{List: []Hit{{Key: HashID(ip), Name: ip}, {Key: HashID(otherIP), Name: otherIP}}},
			LastIP: ip, Vehicle: veh, Entitled: true, Caller: HashID(acct), CallerSeen: true, Callers: true},
		Priv: &PrivReads{Night: HitWindow{List: []Hit{{Key: HashID(veh), Name: veh}}}},
	}
	p.Reads.Lookups = &LookupWindow{}
	p.Reads.Lookups.Add(Lookup{At: 1, VIN: HashID(veh), Serial: -1, NotFound: true}, 1e12, 10, 5)
	p.Reads.Lookups.Add(Lookup{At: 2, VIN: HashID(otherVeh), Serial: -1, NotFound: true}, 1e12, 10, 5)

	erased := []Subject{{SubjectAccount, acct}, {SubjectIP, ip}, {SubjectDevice, dev}, {SubjectVehicle, veh}, {SubjectPhone, phone}}
	for _, s := range erased {
		v.Forget(s)
		p.Forget(s)
	}
	// A second time finds nothing.
	for _, s := range erased {
		if v.Forget(s) || p.Forget(s) {
			t.Errorf("%v %s: something left after it was forgotten", s.Kind, s.Value)
		}
	}
	w := snapshot.NewWriter(nil)
	AppendVehicle(w, &v)
	AppendPrincipal(w, &p)
	b := w.Bytes()
	for _, s := range erased {
		if bytes.Contains(b, []byte(s.Value)) {
			t.Errorf("%s is still in the state", s.Value)
		}
	}
	for _, kept := range []string{other, otherIP, otherVeh, otherSMS} {
		if !bytes.Contains(b, []byte(kept)) {
			t.Errorf("%s, not erased, is gone", kept)
		}
	}
	// Hashes are state too.
	if p.Devices.N != 2 || p.Devices.Knows(DeviceHash(dev)) || !p.Devices.Knows(DeviceHash(otherDev)) || p.Devices.Pending != nil {
		t.Errorf("known devices %+v", p.Devices)
	}
	if p.Reads.Caller != 0 || !p.Reads.Callers {
		t.Errorf("reads' caller %x, callers %v", p.Reads.Caller, p.Reads.Callers)
	}
	if lw := p.Reads.Lookups; len(lw.List) != 1 || lw.NotFound != 1 || lw.Distinct != 1 {
		t.Errorf("lookups %+v", lw)
	}
	if l := v.Links(); len(l.List) != 1 || l.Transfer.To != "" || l.Transfer.At != 6 {
		t.Errorf("links %+v", l)
	}
	if len(p.Logins.List) != 1 || len(p.Failures.List) != 1 || len(p.PIN.Fails.List) != 1 {
		t.Errorf("logins %+v, failures %+v, pin %+v", p.Logins.List, p.Failures.List, p.PIN.Fails.List)
	}
}
