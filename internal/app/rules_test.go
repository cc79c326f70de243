package app

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runRulesCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := runRules(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return out.String() + errb.String(), err
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const userRule = `
rules:
  - id: user.sms-wakeup-storm
    title: Many wake-up SMS to one SIM
    category: sms-spoofing
    severity: medium
    mappings: {r155: ["8.1"], atm: [ATM-T0062]}
    correlation:
      type: event_count
      rules: [user.base.wakeup]
      group_by: [artifact]
      timespan: 5m
      condition: {gte: 3}
  - id: user.base.wakeup
    events: [sms.message]
    condition: data.kind == "wakeup"
`

const userTest = `
tests:
  - name: three wake-ups
    start: 2026-03-02T10:00:00Z
    events:
      - {type: sms.message, at: 0s, repeat: 3, every: 1m,
         data: {direction: mt, originator: "+4915550001", recipient: "+491700000001", kind: wakeup, auth: valid}}
    alerts:
      - rule: user.sms-wakeup-storm
        entities: {msisdn: "+4915550001"}
  - name: a case that fails
    start: 2026-03-02T10:00:00Z
    events:
      - {type: sms.message, at: 0s, data: {direction: mt, originator: "+49", recipient: "+48", kind: wakeup, auth: valid}}
    alerts:
      - rule: user.sms-wakeup-storm
`

func TestRulesCommands(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "sms.yaml", userRule)
	if err := os.Mkdir(filepath.Join(dir, "tests"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := writeFile(t, dir, "tests/sms.yaml", userTest)
	packTests, _ := filepath.Glob("../rules/pack/testdata/*.yaml")

	cases := []struct {
		name    string
		args    []string
		wantErr bool
		want    []string
	}{
		{"test passes and fails", []string{"test", "--rules", dir, tests}, true,
			[]string{"ok    " + tests + ":3  three wake-ups", "FAIL  " + tests + ":11  a case that fails",
				"rule user.sms-wakeup-storm: want 1 alert(s), got 0", "1 passed, 1 failed"}},
		{"pack tests pass", append([]string{"test"}, packTests...), false, []string{" 0 failed"}},
		{"lint is clean", []string{"lint", "--rules", dir}, false, []string{"0 error(s)"}},
		{"list", []string{"list", "--rules", dir}, false, []string{"user.sms-wakeup-storm", "event_count", "pack.ato.bruteforce-success-unlock"}},
		{"no command", nil, true, []string{"Usage: vigil rules"}},
		{"no test files", []string{"test"}, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runRulesCmd(t, tc.args...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v\n%s", err, tc.wantErr, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestRulesLintReportsFileAndLine(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.yaml", "rules:\n  - id: user.bad\n    title: x\n    category: data-exfiltration\n    severity: low\n    conditon: type == \"api.access\"\n")
	out, err := runRulesCmd(t, "lint", "--no-pack", "--rules", dir)
	if err == nil || errors.Is(err, errUsage) {
		t.Fatalf("err = %v, want a lint failure", err)
	}
	want := filepath.Join(dir, "bad.yaml") + ":6:5: rule user.bad: unknown field \"conditon\" in a rule (did you mean \"condition\"?)"
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}
