package twin

import "github.com/vigil-project/vigil/internal/event"

// TakeoverTrail is what an account went through lately that a takeover
// would go through: a contact or credential change, a new device or
// digital key. It exists only while such a step is recent.
type TakeoverTrail struct {
	Change    event.ChangeKind // email, phone, password, password_reset or mfa; unset when none
	Confirmed event.Tri        // the change's confirmed_by_previous_contact
	ChangeAt  int64
	ChangeRef event.Ref
	ChangeIP  string

	Added       event.ChangeKind // device_registered or digital_key_added; unset when none
	AddedAt     int64
	AddedRef    event.Ref
	AddedDevice string

	LastAlert int64
}

// Newest returns the event time of the trail's most recent step.
func (t *TakeoverTrail) Newest() int64 { return max(t.ChangeAt, t.AddedAt) }

// KnownDevices is the devices an account logged in from or registered,
// most recent last, as 32-bit hashes: small enough to keep for every
// account that logs in.
type KnownDevices struct {
	H [4]uint32
	N uint8
	// Pending is a login from a device the account had never used,
	// waiting to see what the account does next; nil when none.
	Pending *NewDeviceLogin
}

// NewDeviceLogin is a successful login from a device never seen on the account.
type NewDeviceLogin struct {
	At     int64
	Device string
	IP     string
	Ref    event.Ref
}

// DeviceHash is the hash KnownDevices keeps of a device id.
func DeviceHash(device string) uint32 {
	h := HashID(device)
	return uint32(h) ^ uint32(h>>32)
}

// Knows reports whether the device hash is among the known ones.
func (k *KnownDevices) Knows(h uint32) bool {
	for _, x := range k.H[:k.N] {
		if x == h {
			return true
		}
	}
	return false
}

// Add makes h the most recent known device; the least recent makes way.
func (k *KnownDevices) Add(h uint32) {
	n := int(k.N)
	for i := range n {
		if k.H[i] == h {
			copy(k.H[i:n], k.H[i+1:n])
			k.H[n-1] = h
			return
		}
	}
	if n == len(k.H) {
		copy(k.H[:], k.H[1:])
		k.H[n-1] = h
		return
	}
	k.H[n] = h
	k.N++
}

// Spread is the distinct vehicles a principal commanded recently that it is
// not entitled to (mass-command).
type Spread struct {
	Vehicles  HitWindow
	Kinds     uint32 // bit set of the event.CommandKind sent to them since the window was last empty
	LastAlert int64
}
