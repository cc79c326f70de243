package sms

import (
	"strconv"
	"testing"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// testGateways are the numbers the test TSP's SMS gateway sends from.
var testGateways = []string{"+4915550001000", "+4915550001001"}

func TestCases(t *testing.T) {
	detecttest.Cases(t, func() []detect.Detector {
		return []detect.Detector{New(Config{Gateways: testGateways})}
	})
}

// BenchmarkSpoofing is gateway traffic: a command, its wake-up SMS and its
// command SMS, with fresh nonces (prepared up front).
func BenchmarkSpoofing(b *testing.B) {
	s := New(Config{Gateways: testGateways})
	c := detecttest.Context(s, detect.KindVehicle, "V1")
	v := &twin.Vehicle{}
	nonces := make([]string, 1024)
	for i := range nonces {
		nonces[i] = "n-" + strconv.Itoa(i)
	}
	actor := event.Actor{Account: "acc-1"}
	cmd := &event.Event{ID: "c", Source: "api", Type: event.TypeCommand, Command: &event.Command{CommandID: "cmd-1", Command: event.CmdUnlock, Stage: event.StageSent, Actor: actor}}
	wake := &event.Event{ID: "s1", Source: "sms", Type: event.TypeSMS, SMS: &event.SMS{Direction: event.DirMT, Originator: testGateways[0], Kind: event.SMSWakeup, Auth: event.AuthValid}}
	text := &event.Event{ID: "s2", Source: "sms", Type: event.TypeSMS, SMS: &event.SMS{Direction: event.DirMT, Originator: testGateways[0], Kind: event.SMSCommand, Command: "unlock", Auth: event.AuthValid}}
	evs := []*event.Event{cmd, wake, text}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev := evs[i%3]
		ev.Time = int64(i) * 1e9
		if ev.SMS != nil {
			ev.SMS.Nonce = nonces[i%len(nonces)]
		}
		s.OnEvent(c, detect.State{Vehicle: v}, ev)
		v.Apply(ev)
	}
}
