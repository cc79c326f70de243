package pseudo

import (
	"strings"

	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/twin"
)

// Kind is what a personal value is. It picks the pseudonym's shape and is
// part of the HMAC input, so equal strings of two kinds do not link.
type Kind uint8

const (
	Vehicle Kind = iota // VIN or TSP vehicle id: subject, data.vehicle(s), the VIN signal
	Account             // account id, user name hash
	Email               // an account id that is an e-mail address
	Phone               // MSISDN: SMS originator and recipient
	IP                  // actor and unit IP addresses
	Device              // the actor's device (an app install, a phone)
	Client              // API client id
	Unit                // the telematics unit's IMEI and ICCID
	NumKinds
)

var kindNames = [NumKinds]string{"vehicle", "account", "email", "phone", "ip", "device", "client", "unit"}

func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "unknown"
}

// ParseKind reads a kind name.
func ParseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n == s {
			return Kind(k), true
		}
	}
	return 0, false
}

// KindList names every kind, for messages.
func KindList() string { return strings.Join(kindNames[:], ", ") }

// Entity returns the store's entity kind for k: what EraseSubject and the
// archive's indexed columns know it as. Units have none.
func (k Kind) Entity() (store.EntityKind, bool) {
	switch k {
	case Vehicle:
		return store.EntityVehicle, true
	case Account, Email:
		return store.EntityAccount, true
	case Phone:
		return store.EntityMSISDN, true
	case IP:
		return store.EntityIP, true
	case Device:
		return store.EntityDevice, true
	case Client:
		return store.EntityClient, true
	}
	return "", false
}

// subject is what detection's state knows a value of kind k as. Units
// are never erased on their own (Entity).
func (k Kind) subject() twin.SubjectKind {
	switch k {
	case Vehicle:
		return twin.SubjectVehicle
	case Phone:
		return twin.SubjectPhone
	case IP:
		return twin.SubjectIP
	case Device:
		return twin.SubjectDevice
	case Client:
		return twin.SubjectClient
	}
	return twin.SubjectAccount
}

// resolve picks Email for an account id that is an e-mail address, and
// Account for an "e-mail" that is not one: the shape of the value decides,
// the same way at ingest and in the API.
func resolve(k Kind, v string) Kind {
	switch k {
	case Account, Email:
		if isEmail(v) {
			return Email
		}
		return Account
	}
	return k
}

func isEmail(v string) bool {
	at := strings.LastIndexByte(v, '@')
	return at > 0 && at < len(v)-1
}

// Fields is the set of kinds a tenant pseudonymises.
type Fields uint16

// AllFields pseudonymises every kind.
const AllFields Fields = 1<<NumKinds - 1

// Has reports whether f holds k.
func (f Fields) Has(k Kind) bool { return f&(1<<k) != 0 }

// With returns f with k added.
func (f Fields) With(k Kind) Fields { return f | 1<<k }

// Without returns f with k removed.
func (f Fields) Without(k Kind) Fields { return f &^ (1 << k) }
