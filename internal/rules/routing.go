package rules

import (
	"slices"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
)

// How rules meet the engine's routing. The engine hands an event to a
// detector once for each key kind the detector subscribed to and the event
// has (engine.Key). A single-event rule must see each event once: it is
// evaluated on the first kind of its type's chain below that the event has
// a key for. A correlation keeps its state under its group_by key, so every
// event that can advance it reaches the same shard.

// singleChain lists, per type, the kinds a single-event rule is evaluated
// on, in order of preference. The first kind of each chain is a key the
// contract requires for the type, except auth.login and api.access whose
// principals are all optional: an auth.login with neither account nor IP,
// or an api.access with no account, client or IP, is not seen by
// single-event rules.
var singleChain = func() (out [event.NumTypes][]detect.Kind) {
	for _, t := range []event.Type{event.TypeTelemetry, event.TypeVehicleEvent, event.TypeCommand, event.TypeFirmware, event.TypeIDS} {
		out[t] = []detect.Kind{detect.KindVehicle}
	}
	out[event.TypeLogin] = []detect.Kind{detect.KindAccount, detect.KindIP}
	out[event.TypeAccountChange] = []detect.Kind{detect.KindAccount}
	out[event.TypeAPIAccess] = []detect.Kind{detect.KindAccount, detect.KindClient, detect.KindIP}
	out[event.TypeSMS] = []detect.Kind{detect.KindArtifact}
	return out
}()

// groupKinds are the names group_by may start with.
var groupKinds = map[string]detect.Kind{
	"vehicle": detect.KindVehicle, "subject": detect.KindVehicle,
	"account": detect.KindAccount,
	"ip":      detect.KindIP,
	"client":  detect.KindClient, "client_id": detect.KindClient,
	"device":   detect.KindDevice,
	"subnet":   detect.KindSubnet,
	"artifact": detect.KindArtifact,
}

var groupKindNames = []string{"vehicle", "account", "ip", "client", "device", "subnet", "artifact"}

// fieldKinds maps field paths people may try in group_by to the key name
// they should use.
var fieldKinds = map[string]string{
	"data.actor.account": "account", "data.account": "account", "data.actor.ip": "ip",
	"data.actor.client_id": "client", "data.actor.device": "device", "data.vehicle": "vehicle",
	"data.originator": "artifact",
}

// kindTypes lists, per kind, the types whose events can carry that key.
var kindTypes = func() (out [detect.NumKinds][]event.Type) {
	out[detect.KindVehicle] = event.Types()
	principal := []event.Type{event.TypeCommand, event.TypeLogin, event.TypeAccountChange, event.TypeAPIAccess}
	for _, k := range []detect.Kind{detect.KindAccount, detect.KindIP, detect.KindClient, detect.KindDevice, detect.KindSubnet} {
		out[k] = principal
	}
	out[detect.KindArtifact] = []event.Type{event.TypeIDS, event.TypeFirmware, event.TypeSMS}
	return out
}()

func kindCarries(k detect.Kind, t event.Type) bool { return slices.Contains(kindTypes[k], t) }

// routes is a set of (kind, type) deliveries.
type routes [detect.NumKinds][event.NumTypes]bool

func (r *routes) subscriptions() []detect.Subscription {
	var out []detect.Subscription
	for k := range detect.NumKinds {
		var ts []event.Type
		for _, t := range event.Types() {
			if r[k][t] {
				ts = append(ts, t)
			}
		}
		if len(ts) > 0 {
			out = append(out, detect.Subscription{Kind: k, Types: ts})
		}
	}
	return out
}

// baseRoutes are the deliveries every rules detector subscribes to: the
// chains of single-event rules for every type, so a reload can add a
// single-event rule of any type without a restart.
func baseRoutes() routes {
	var r routes
	for _, t := range event.Types() {
		for _, k := range singleChain[t] {
			r[k][t] = true
		}
	}
	return r
}
