package config

import (
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/alert"
)

func TestDetectorModes(t *testing.T) {
	c, err := Parse(strings.NewReader(`detectors:
  cmd.unsafe-command: {mode: shadow, speed: 5}
  fw.tampering: {mode: off}
tenants:
  fleet-a:
    detectors:
      cmd.unsafe-command: {mode: enabled}
      mass.command-spread: {mode: shadow, window: 10m}
`))
	if err != nil {
		t.Fatal(err)
	}
	def, tenants := c.DetectorModes()
	if def["cmd.unsafe-command"] != alert.ModeShadow || def["fw.tampering"] != alert.ModeOff || len(def) != 2 {
		t.Errorf("modes %v", def)
	}
	if tenants["fleet-a"]["cmd.unsafe-command"] != alert.ModeEnabled || tenants["fleet-a"]["mass.command-spread"] != alert.ModeShadow {
		t.Errorf("tenant modes %v", tenants)
	}
	// The detector's own settings never see the mode.
	var s struct {
		Speed int `yaml:"speed"`
	}
	if err := c.Decode("cmd.unsafe-command", &s); err != nil || s.Speed != 5 {
		t.Errorf("decoded %+v, %v", s, err)
	}
	if c.TenantSettings("fleet-a", "cmd.unsafe-command") || !c.TenantSettings("fleet-a", "mass.command-spread") {
		t.Error("TenantSettings: a mode alone is not a setting; a window is")
	}
}

func TestModeAndSinkErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"detectors:\n  cmd.unsafe-command:\n    mode: quiet\n", `detectors.cmd.unsafe-command.mode (line 3): "quiet" is not enabled, shadow or off`},
		{"tenants:\n  fleet-a:\n    detectors:\n      x: {mode: on}\n", "tenants.fleet-a.detectors.x.mode (line 4)"},
		{"sinks:\n  - name: soc\n    type: webhook\n    url: https://soc.example/\n    secret_fil: s\n", `line 5: "secret_fil" is not a key of a sink`},
		{"sinks:\n  - name: soc\n    type: syslog\n    address: nowhere\n", "sinks[0] (line 2): address \"nowhere\": want host:port"},
	} {
		_, err := Parse(strings.NewReader(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
}
