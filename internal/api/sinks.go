package api

import (
	"net/http"
	"time"

	"github.com/vigil-project/vigil/internal/store"
)

type (
	sinkList struct {
		Sinks []sinkJSON `json:"sinks"`
	}
	sinkJSON struct {
		Name   string         `json:"name"`
		Type   string         `json:"type"`
		Target string         `json:"target"` // where it delivers, secrets redacted
		Filter sinkFilterJSON `json:"filter"`
		Status sinkStatusJSON `json:"status"`
	}
	sinkFilterJSON struct {
		Tenants       []string `json:"tenants"` // empty: every tenant
		MinSeverity   string   `json:"min_severity,omitempty"`
		Categories    []string `json:"categories"` // empty: every category
		IncludeShadow bool     `json:"include_shadow"`
	}
	// sinkStatusJSON counts since the server started (kept in memory);
	// lag is read from the store's position.
	sinkStatusJSON struct {
		Delivered      int64            `json:"delivered"`
		FailedAttempts int64            `json:"failed_attempts"`
		Filtered       int64            `json:"filtered"`
		Dropped        map[string]int64 `json:"dropped"` // by reason
		DroppedTotal   int64            `json:"dropped_total"`
		Lag            int64            `json:"lag"` // alerts stored that the sink has not handled yet
		LastError      string           `json:"last_error,omitempty"`
		LastErrorAt    string           `json:"last_error_at,omitempty"`
		LastDelivered  string           `json:"last_delivered,omitempty"`
	}
)

func tsIf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// sinks lists the sinks the caller may see: every one for an admin of every
// tenant; for an admin of some tenants, those whose filter names only
// tenants of theirs (a sink of every tenant is the platform's, and its
// counts and errors span tenants).
func (s *Server) sinks(w http.ResponseWriter, r *http.Request) error {
	sc := callerOf(r).scope
	out := sinkList{Sinks: []sinkJSON{}}
	for _, st := range s.o.Sinks.Status() {
		if !mayseeSink(sc, st.Filter.Tenants) {
			continue
		}
		f := sinkFilterJSON{Tenants: append([]string{}, st.Filter.Tenants...), MinSeverity: st.Filter.MinSeverity,
			Categories: append([]string{}, st.Filter.Categories...), IncludeShadow: st.Filter.IncludeShadow}
		j := sinkJSON{Name: st.Name, Type: st.Type, Target: st.Target, Filter: f, Status: sinkStatusJSON{
			Delivered: st.Delivered, FailedAttempts: st.Failed, Filtered: st.Filtered, Dropped: st.Dropped,
			Lag: st.Lag, LastError: st.LastError, LastErrorAt: tsIf(st.LastErrorAt),
			LastDelivered: tsIf(st.LastDelivered)}}
		for _, n := range st.Dropped {
			j.Status.DroppedTotal += n
		}
		out.Sinks = append(out.Sinks, j)
	}
	return writeJSON(w, http.StatusOK, out)
}

func mayseeSink(sc store.Scope, tenants []string) bool {
	if sc.All() {
		return true
	}
	if len(tenants) == 0 {
		return false
	}
	for _, t := range tenants {
		if !sc.Allows(t) {
			return false
		}
	}
	return true
}
