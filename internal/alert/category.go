package alert

// Category is one of the attack categories of the alert contract.
type Category uint8

const (
	CategoryUnset Category = iota
	CredentialAttack
	AccountTakeover
	UnauthorizedCommand
	UnsafeCommand
	MassCommand
	DataExfiltration
	PrivilegedMisuse
	FirmwareTampering
	SMSSpoofing
	TelemetrySpoofing
	InVehicleIntrusion
	ServiceAnomaly
	numCategories
)

var categoryNames = [...]string{"", "credential-attack", "account-takeover", "unauthorized-command",
	"unsafe-command", "mass-command", "data-exfiltration", "privileged-misuse", "firmware-tampering",
	"sms-spoofing", "telemetry-spoofing", "in-vehicle-intrusion", "service-anomaly"}

func (c Category) String() string {
	if int(c) < len(categoryNames) {
		return categoryNames[c]
	}
	return ""
}

// ParseCategory parses a category name of the contract.
func ParseCategory(s string) (Category, bool) {
	for i := 1; i < len(categoryNames); i++ {
		if categoryNames[i] == s {
			return Category(i), true
		}
	}
	return CategoryUnset, false
}

// Categories lists every category in contract order.
func Categories() []Category {
	out := make([]Category, 0, numCategories-1)
	for c := CredentialAttack; c < numCategories; c++ {
		out = append(out, c)
	}
	return out
}

// Mappings are the framework identifiers an alert is filed under.
type Mappings struct {
	R155   []string `json:"r155"`
	ATM    []string `json:"atm"`
	ATTACK []string `json:"attack"`
}

// defaultMappings is the one place the framework identifiers of
// shared/spec/mappings.md live: a correction is one edit here.
var defaultMappings = [numCategories]Mappings{
	CredentialAttack:    {R155: []string{"1.2"}, ATM: []string{"ATM-T0015", "ATM-T0040"}, ATTACK: []string{"T1110"}},
	AccountTakeover:     {R155: []string{"16.1", "20.2", "15.1"}, ATM: []string{"ATM-T0015"}, ATTACK: []string{"T1078", "T1098"}},
	UnauthorizedCommand: {R155: []string{"16.1", "16.2", "6.1", "11.4"}, ATM: []string{"ATM-T0069", "ATM-T0008"}, ATTACK: []string{"T1078"}},
	UnsafeCommand:       {R155: []string{"16.1"}, ATM: []string{"ATM-T0069", "ATM-T0072"}, ATTACK: []string{"T1078"}},
	MassCommand:         {R155: []string{"1.2", "16.1"}, ATM: []string{"ATM-T0069"}, ATTACK: []string{"T1078", "T1190"}},
	DataExfiltration:    {R155: []string{"3.3", "7.2", "19.2"}, ATM: []string{"ATM-T0043", "ATM-T0077"}, ATTACK: []string{"T1530", "T1595", "T1589"}},
	PrivilegedMisuse:    {R155: []string{"1.1", "3.1"}, ATM: []string{"ATM-T0076"}, ATTACK: []string{"T1078", "T1199"}},
	FirmwareTampering:   {R155: []string{"12.1", "12.2", "12.3", "12.4", "6.3", "18.1"}, ATM: []string{"ATM-T0031", "ATM-T0013"}, ATTACK: []string{"T1565"}},
	SMSSpoofing:         {R155: []string{"6.1", "6.3", "16.1"}, ATM: []string{"ATM-T0062", "ATM-T0035"}, ATTACK: []string{}},
	TelemetrySpoofing:   {R155: []string{"4.1", "20.3", "20.4"}, ATM: []string{"ATM-T0003", "ATM-T0008"}, ATTACK: []string{"T1565"}},
	InVehicleIntrusion:  {R155: []string{"5.1", "11.4"}, ATM: []string{}, ATTACK: []string{}},
	ServiceAnomaly:      {R155: []string{"2.1"}, ATM: []string{"ATM-T0072"}, ATTACK: []string{"T1486"}},
}

// DefaultMappings returns the category's framework identifiers. The slices
// are shared: callers must not modify them.
func DefaultMappings(c Category) Mappings {
	if c >= numCategories {
		return Mappings{}
	}
	return defaultMappings[c]
}
