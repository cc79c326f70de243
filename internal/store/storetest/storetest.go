// Package storetest is the conformance suite every store.Store passes.
// An implementation's test calls Run with a function that gives each test a
// fresh, empty database:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Backend { … })
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

// Backend is one fresh database under test.
type Backend struct {
	// Open opens the database. Every call opens the same database; the
	// suite closes one store before it opens the next.
	Open func(ctx context.Context) (store.Store, error)
	// Exec runs raw SQL on the database, bypassing the store and its
	// append-only guards: the suite uses it to tamper with rows. Write it
	// in SQL both SQLite and PostgreSQL accept.
	Exec func(t *testing.T, sql string)
	// QueryInt runs raw SQL that returns one integer.
	QueryInt func(t *testing.T, sql string) int64
	// OpenWith opens the database like Open, with the test settings h.
	OpenWith func(ctx context.Context, h Hooks) (store.Store, error)
}

// TimelineBlock is the block size (sequence numbers) of the tenants'
// timelines that a Backend opens its store with, in Open and OpenWith: small,
// so that searches and retention cross many blocks.
const TimelineBlock = 4

// Hooks are settings only tests use.
type Hooks struct {
	// ManualTimeline: the store builds timeline entries only when the test
	// calls IndexTimeline.
	ManualTimeline bool
	// EntityKey replaces the hash of timeline keys (to force collisions).
	EntityKey func(kind, value string) int64
	// HoldWriter is called by the writer before each group commit with
	// the group's number of requests and a count of those waiting behind
	// it (to make a group).
	HoldWriter func(requests int, waiting func() int)
}

type test struct {
	name string
	fn   func(t *testing.T, b Backend)
}

// tests lists every conformance test; each file of the suite adds its own.
func tests() []test {
	var all []test
	for _, group := range [][]test{eventTests, alertTests, incidentTests, auditTests, configTests, retentionTests,
		isolationTests, lifecycleTests} {
		all = append(all, group...)
	}
	return all
}

// Run runs the whole suite, each test on a fresh backend, in parallel.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	for _, tc := range tests() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newBackend(t))
		})
	}
}

// open opens the backend's store and closes it when the test ends.
func open(t *testing.T, b Backend) store.Store {
	t.Helper()
	s, err := b.Open(context.Background())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

var ctx = context.Background()

var (
	all   = store.AllTenants()
	onlyA = store.TenantScope("fleet-a")
	onlyB = store.TenantScope("fleet-b")
)

// t0 is the suite's epoch: event times are minutes after it.
var t0 = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()

func at(minute int) int64 { return t0 + int64(minute)*int64(time.Minute) }

// ev builds an archived event of a vehicle at a minute after t0.
func ev(tenant, id string, minute int, vehicle string) store.ArchivedEvent {
	return store.ArchivedEvent{
		Tenant:  tenant,
		Source:  "tsp/test",
		ID:      id,
		Type:    "vehicle.telemetry",
		Time:    at(minute),
		Subject: vehicle,
		Raw:     []byte(fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"tsp/test","tenant":%q}`, id, tenant)),
		Arrived: t0 + 1,
	}
}

// cmdEv builds a command event with an actor.
func cmdEv(tenant, id string, minute int, vehicle, account, ip string) store.ArchivedEvent {
	e := ev(tenant, id, minute, vehicle)
	e.Type = "vehicle.command"
	e.Account, e.IP, e.Device, e.ClientID = account, ip, "dev-"+account, "app-1"
	return e
}

func insert(t *testing.T, s store.Store, evs ...store.ArchivedEvent) []store.Inserted {
	t.Helper()
	res, err := s.InsertEvents(ctx, all, evs)
	if err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
	if len(res) != len(evs) {
		t.Fatalf("InsertEvents: %d results for %d events", len(res), len(evs))
	}
	return res
}

// mkAlert builds an alert at a minute after t0.
func mkAlert(tenant, id string, minute int, cat alert.Category, sev event.Severity, vehicle string) *alert.Alert {
	return &alert.Alert{
		ID: id, Time: at(minute), FirstSeen: at(minute - 1), LastSeen: at(minute), Tenant: tenant,
		Category: cat, Severity: sev, Detector: "det." + cat.String(), Title: "title " + id,
		Explanation: "because " + id, Entities: alert.Entities{Vehicle: vehicle, Account: "acc-" + vehicle},
		Evidence: []event.Ref{{Source: "tsp/test", ID: "ev-" + id}}, Mappings: alert.DefaultMappings(cat),
	}
}

func upsertAlerts(t *testing.T, s store.Store, as ...*alert.Alert) []bool {
	t.Helper()
	created, err := s.UpsertAlerts(ctx, all, as)
	if err != nil {
		t.Fatalf("UpsertAlerts: %v", err)
	}
	return created
}

// wantErr fails unless err is of the given kind (nil: no error).
func wantErr(t *testing.T, what string, err, kind error) {
	t.Helper()
	switch {
	case kind == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case kind != nil && !errors.Is(err, kind):
		t.Fatalf("%s: error %v, want %v", what, err, kind)
	}
}

// equal fails the test when got and want differ.
func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func eventIDs(evs []store.ArchivedEvent) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func alertIDs(as []store.Alert) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func incidentIDs(is []store.Incident) []string {
	out := []string{}
	for _, i := range is {
		out = append(out, i.ID)
	}
	return out
}

func ids(prefix string, from, to int) []string {
	out := []string{}
	if from <= to {
		for i := from; i <= to; i++ {
			out = append(out, fmt.Sprintf("%s%02d", prefix, i))
		}
	} else {
		for i := from; i >= to; i-- {
			out = append(out, fmt.Sprintf("%s%02d", prefix, i))
		}
	}
	return out
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func ptr[T any](v T) *T { return &v }
