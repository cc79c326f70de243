// Package alert is vigil's alert contract (shared/spec/alerts.md): the alert
// model, its JSON form, the framework mappings and the alert manager that
// deduplicates alerts and groups them into incidents.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/vigil-project/vigil/internal/event"
)

// Entities names who and what an alert concerns.
type Entities struct {
	Vehicle  string   `json:"vehicle,omitempty"`
	Vehicles []string `json:"vehicles,omitempty"`
	Account  string   `json:"account,omitempty"`
	Device   string   `json:"device,omitempty"`
	IP       string   `json:"ip,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	MSISDN   string   `json:"msisdn,omitempty"`
}

// Alert is one finding. Times are Unix nanoseconds of event time.
type Alert struct {
	ID          string
	Time        int64
	FirstSeen   int64
	LastSeen    int64
	Tenant      string
	Category    Category
	Severity    event.Severity
	Detector    string
	Title       string
	Explanation string
	Entities    Entities
	Evidence    []event.Ref
	Mappings    Mappings
	Incident    string // set by the Manager; "" for a shadow alert
	// Shadow: the detector runs in shadow mode (or the rule says shadow):
	// the alert is stored and counted but not raised: no incident, no
	// gate, not in the default alert queue, not sent to sinks that do not
	// ask for it.
	Shadow bool

	// TriggerArrived is the arrival stamp of the event that made the alert
	// fire (see event.Event.Arrived); used to measure latency, never sent.
	TriggerArrived int64
}

// MakeID derives the alert's stable id from what identifies the finding: the
// detector, the tenant, the key it fired on and its first evidence. A
// re-delivered or replayed alert gets the same id.
func MakeID(detector, tenant, key string, first event.Ref) string {
	h := sha256.New()
	for _, s := range [...]string{detector, tenant, key, first.Source, first.ID} {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	var sum [32]byte
	return "al-" + hex.EncodeToString(h.Sum(sum[:0])[:12])
}

// AppendJSON appends the alert as one JSON object (no trailing newline).
func AppendJSON(dst []byte, a *Alert) []byte {
	dst = append(dst, `{"id":`...)
	dst = event.AppendString(dst, a.ID)
	dst = append(dst, `,"time":"`...)
	dst = event.AppendTime(dst, a.Time)
	dst = append(dst, `","first_seen":"`...)
	dst = event.AppendTime(dst, a.FirstSeen)
	dst = append(dst, `","last_seen":"`...)
	dst = event.AppendTime(dst, a.LastSeen)
	dst = append(dst, `","tenant":`...)
	dst = event.AppendString(dst, a.Tenant)
	dst = append(dst, `,"category":"`...)
	dst = append(dst, a.Category.String()...)
	dst = append(dst, `","severity":"`...)
	dst = append(dst, a.Severity.String()...)
	dst = append(dst, `","detector":`...)
	dst = event.AppendString(dst, a.Detector)
	dst = append(dst, `,"title":`...)
	dst = event.AppendString(dst, a.Title)
	dst = append(dst, `,"explanation":`...)
	dst = event.AppendString(dst, a.Explanation)
	dst = append(dst, `,"entities":{`...)
	n := 0
	field := func(k, v string) {
		if v == "" {
			return
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = event.AppendString(dst, k)
		dst = append(dst, ':')
		dst = event.AppendString(dst, v)
	}
	e := &a.Entities
	field("vehicle", e.Vehicle)
	if len(e.Vehicles) > 0 {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `"vehicles":`...)
		dst = appendStrings(dst, e.Vehicles)
	}
	field("account", e.Account)
	field("device", e.Device)
	field("ip", e.IP)
	field("client_id", e.ClientID)
	field("msisdn", e.MSISDN)
	dst = append(dst, `},"evidence":[`...)
	for i, r := range a.Evidence {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"source":`...)
		dst = event.AppendString(dst, r.Source)
		dst = append(dst, `,"id":`...)
		dst = event.AppendString(dst, r.ID)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"mappings":{"r155":`...)
	dst = appendStrings(dst, a.Mappings.R155)
	dst = append(dst, `,"atm":`...)
	dst = appendStrings(dst, a.Mappings.ATM)
	dst = append(dst, `,"attack":`...)
	dst = appendStrings(dst, a.Mappings.ATTACK)
	dst = append(dst, '}')
	if a.Incident != "" {
		dst = append(dst, `,"incident":`...)
		dst = event.AppendString(dst, a.Incident)
	}
	if a.Shadow {
		// Only when set: the JSON of a raised alert stays as it was.
		dst = append(dst, `,"shadow":true`...)
	}
	return append(dst, '}')
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = event.AppendString(dst, s)
	}
	return append(dst, ']')
}
