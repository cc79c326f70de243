package app

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/store/sqlite"
)

// archivedJSON is an event as the API answers it.
type archivedJSON struct {
	Seq        int64           `json:"seq"`
	Tenant     string          `json:"tenant"`
	Type       string          `json:"type"`
	Time       string          `json:"time"`
	Subject    string          `json:"subject"`
	Source     string          `json:"source"`
	ID         string          `json:"id"`
	Event      json.RawMessage `json:"event"`
	Unreadable string          `json:"unreadable"`
}

// TestServeArchiveGivesBackWhatWasSent: the archive keeps events packed
// (store/rawpack); the API gives every event back byte for byte as it was
// posted — in searches and in an alert's evidence — and an event whose row
// is damaged as its columns and the reason, without failing the page.
func TestServeArchiveGivesBackWhatWasSent(t *testing.T) {
	dir := t.TempDir()
	stream, _ := simStream(t, 23)
	ts := startServer(t, dir)
	admin := ts.key(t, "admin", "*")
	ingest := ts.key(t, "ingest", "*")
	if acc, _ := ts.post(t, ingest, stream, 1000); acc == 0 {
		t.Fatal("nothing accepted")
	}
	ts.waitCaughtUp(t)
	sent := map[string][]byte{}
	for line := range bytes.Lines(stream) {
		var ref struct{ Source, ID string }
		if err := json.Unmarshal(line, &ref); err != nil {
			t.Fatal(err)
		}
		sent[ref.Source+" "+ref.ID] = bytes.TrimSuffix(line, []byte("\n"))
	}
	same := func(what string, e archivedJSON) {
		t.Helper()
		want, ok := sent[e.Source+" "+e.ID]
		if !ok || !bytes.Equal(e.Event, want) {
			t.Fatalf("%s: event (%s, %s) reads back as\n%s\nposted as\n%s", what, e.Source, e.ID, e.Event, want)
		}
	}

	alerts := ts.allAlerts(t, admin, "")
	if len(alerts) == 0 {
		t.Fatal("no alerts")
	}
	var ev struct {
		Evidence []struct {
			Ref   struct{ Source, ID string } `json:"ref"`
			Event *archivedJSON               `json:"event"`
		} `json:"evidence"`
	}
	checked := 0
	for _, a := range alerts[:min(len(alerts), 20)] {
		if code := ts.call(t, "GET", "/v1/alerts/"+a["id"].(string)+"/evidence", admin, nil, nil, &ev); code != 200 {
			t.Fatalf("evidence of %s: %d", a["id"], code)
		}
		for _, it := range ev.Evidence {
			if it.Event != nil {
				same("evidence of "+a["id"].(string), *it.Event)
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no alert's evidence resolved to an archived event")
	}

	vin := alerts[0]["entities"].(map[string]any)["vehicle"]
	if vin == nil {
		for _, a := range alerts {
			if v := a["entities"].(map[string]any)["vehicle"]; v != nil {
				vin = v
				break
			}
		}
	}
	path := "/v1/events?kind=vehicle&value=" + vin.(string) + "&limit=500"
	var page struct {
		Events []archivedJSON `json:"events"`
		Next   string         `json:"next"`
	}
	if code := ts.call(t, "GET", path, admin, nil, nil, &page); code != 200 || len(page.Events) < 3 {
		t.Fatalf("GET %s: %d, %d events", path, code, len(page.Events))
	}
	for _, e := range page.Events {
		same("timeline of "+vin.(string), e)
	}

	// Damage one of them in the database file.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	victim := page.Events[1]
	if _, err := db.Exec("UPDATE events SET raw = substr(raw, 1, 12) WHERE source = ? AND id = ?", victim.Source, victim.ID); err != nil {
		t.Fatal(err)
	}
	var again struct {
		Events []archivedJSON `json:"events"`
		Next   string         `json:"next"`
	}
	if code := ts.call(t, "GET", path, admin, nil, nil, &again); code != 200 || len(again.Events) != len(page.Events) {
		t.Fatalf("GET %s after the damage: %d, %d events (want %d)", path, code, len(again.Events), len(page.Events))
	}
	for i, e := range again.Events {
		if i == 1 {
			if string(e.Event) != "null" || !strings.Contains(e.Unreadable, "corrupt packed event") || e.ID != victim.ID {
				t.Fatalf("the damaged event reads as %+v: want its id, event null and why", e)
			}
			continue
		}
		same("timeline after the damage", e)
	}
}
