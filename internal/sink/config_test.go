package sink

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

func parse(t *testing.T, src string) ([]Config, error) {
	t.Helper()
	var v struct {
		Sinks []Config `yaml:"sinks"`
	}
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		return nil, err
	}
	return v.Sinks, Validate(v.Sinks)
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name, yaml, err string
	}{
		{"webhook ok", "sinks:\n- {name: soc, type: webhook, url: 'https://soc.example/hook', secret_file: s}\n", ""},
		{"unknown key names its line", "sinks:\n- name: soc\n  type: webhook\n  urll: https://x\n", `line 4: "urll" is not a key of a sink`},
		{"unknown tls key", "sinks:\n- name: soc\n  type: webhook\n  url: https://x\n  secret_env: S\n  tls:\n    ca: x\n", `line 7: "ca" is not a key of a tls section`},
		{"unknown filter key", "sinks:\n- name: soc\n  type: webhook\n  url: https://x\n  secret_env: S\n  filter: {tenant: a}\n", `"tenant" is not a key of a sink filter`},
		{"plain http refused", "sinks:\n- {name: soc, type: webhook, url: 'http://soc.example/hook', secret_file: s}\n", "want an https:// URL"},
		{"unsigned webhook", "sinks:\n- {name: soc, type: webhook, url: 'https://soc.example/hook'}\n", "secret_file or secret_env is required"},
		{"inline credential header", "sinks:\n- {name: soc, type: webhook, url: 'https://x/', secret_env: S, headers: {Authorization: Bearer x}}\n", "credential in the configuration file"},
		{"header injection", "sinks:\n- {name: soc, type: webhook, url: 'https://x/', secret_env: S, headers: {X-A: \"a\\r\\nB: c\"}}\n", "line break"},
		{"url credentials", "sinks:\n- {name: soc, type: webhook, url: 'https://u:p@x/', secret_env: S}\n", "REDACTED"},
		{"duplicate name", "sinks:\n- {name: a, type: syslog, address: 'h:514'}\n- {name: a, type: syslog, address: 'h:514'}\n", `sinks[1] (line 3): name "a" is already used`},
		{"bad type", "sinks:\n- {name: a, type: email}\n", `type "email" is not one of`},
		{"field of another type", "sinks:\n- {name: a, type: syslog, address: 'h:514', topic: t}\n", "topic does not apply to a syslog sink"},
		{"syslog udp with tls", "sinks:\n- {name: a, type: syslog, address: 'h:514', protocol: udp, tls: {ca_file: x}}\n", "need protocol: tls"},
		{"syslog bad facility", "sinks:\n- {name: a, type: syslog, address: 'h:514', facility: mail2}\n", "facility"},
		{"nats wildcard", "sinks:\n- {name: a, type: nats, url: 'nats://h:4222', subject: 'vigil.>'}\n", "wildcards"},
		{"nats bad placeholder", "sinks:\n- {name: a, type: nats, url: 'nats://h:4222', subject: 'vigil.{vin}'}\n", "{vin} is not one of"},
		{"nats ok", "sinks:\n- {name: a, type: nats, url: 'nats://h:4222,tls://g:4222', subject: 'vigil.{tenant}.{category}'}\n", ""},
		{"mqtt wildcard", "sinks:\n- {name: a, type: mqtt, url: 'mqtt://h:1883', topic: 'vigil/#'}\n", "wildcards"},
		{"kafka plain sasl without tls", "sinks:\n- {name: a, type: kafka, brokers: ['h:9092'], topic: t, sasl: plain, username: u, password_env: P}\n", "in clear"},
		{"kafka bad topic", "sinks:\n- {name: a, type: kafka, brokers: ['h:9092'], topic: 'a b'}\n", "A-Z a-z"},
		{"password without user", "sinks:\n- {name: a, type: mqtt, url: 'mqtt://h:1883', topic: t, password_env: P}\n", "needs a username"},
		{"bad severity", "sinks:\n- {name: a, type: syslog, address: 'h:514', filter: {min_severity: urgent}}\n", "min_severity"},
		{"bad category", "sinks:\n- {name: a, type: syslog, address: 'h:514', filter: {categories: [ransomware]}}\n", "not a category"},
		{"removed key", "sinks:\n- name: a\n  type: syslog\n  address: 'h:514'\n  queue_size: 1024\n", "line 5: queue_size is no longer a key of a sink"},
		{"bad name", "sinks:\n- {name: 'A B', type: syslog, address: 'h:514'}\n", "name"},
	}
	for _, c := range cases {
		_, err := parse(t, c.yaml)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.err)
		}
	}
}

func TestConfigDefaultsAndFilter(t *testing.T) {
	list, err := parse(t, "sinks:\n- name: s\n  type: syslog\n  address: 'h:6514'\n  filter: {tenants: [fleet-a], min_severity: high, categories: [mass-command]}\n")
	if err != nil {
		t.Fatal(err)
	}
	c := list[0]
	if c.Protocol != "tls" || c.Facility != "local0" || c.AppName != "vigil" || *c.Retries != 5 || c.Line != 2 {
		t.Errorf("defaults: %+v", c)
	}
	a := &alert.Alert{Tenant: "fleet-a", Severity: event.SeverityHigh, Category: alert.MassCommand}
	if !c.Filter.Admits(a) {
		t.Error("filter refused a matching alert")
	}
	for _, change := range []func(*alert.Alert){
		func(a *alert.Alert) { a.Tenant = "fleet-b" },
		func(a *alert.Alert) { a.Severity = event.SeverityMedium },
		func(a *alert.Alert) { a.Category = alert.UnsafeCommand },
		func(a *alert.Alert) { a.Shadow = true },
	} {
		b := *a
		change(&b)
		if c.Filter.Admits(&b) {
			t.Errorf("filter admitted %+v", b)
		}
	}
}

func TestTemplateIsSafe(t *testing.T) {
	tpl, err := ParseTemplate("vigil.{tenant}.{category}.{detector}")
	if err != nil {
		t.Fatal(err)
	}
	a := &alert.Alert{Tenant: "evil.*.>", Category: alert.MassCommand, Detector: "cmd.x/#+"}
	if got := tpl.Expand(a); got != "vigil.evil____.mass-command.cmd_x___" {
		t.Errorf("expanded %q", got)
	}
	for _, bad := range []string{"a{tenant", "a}b", "{x}"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("template %q accepted", bad)
		}
	}
}

func TestRedact(t *testing.T) {
	got := Redact("https://user:pw@h.example/p?token=abc&x=1#frag")
	if strings.Contains(got, "pw") || strings.Contains(got, "abc") || strings.Contains(got, "frag") || !strings.Contains(got, "h.example/p") {
		t.Errorf("redacted %q", got)
	}
}
