package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vigil-project/vigil/internal/api/live"
	"github.com/vigil-project/vigil/internal/api/problem"
)

// streamWriteWait is how long one write to a live stream may take: a
// client that reads nothing for that long is gone or stuck, and is dropped.
const streamWriteWait = 30 * time.Second

// alertStream serves GET /v1/alerts/stream: Server-Sent Events, one
// "alert" event per alert stored for the first time that the caller's
// tenants and the query's filters admit, with the JSON of GET
// /v1/alerts/{id}; a comment as a heartbeat when idle; a final "overflow"
// event when the client fell too far behind. The stream ends when the
// server shuts down, and when the caller's credential is revoked or ends
// or its role or tenants change (checked at once here, and every
// keyCacheTTL for changes made through another server); clients
// reconnect, and are authenticated again, and catch up with GET /v1/alerts.
func (s *Server) alertStream(w http.ResponseWriter, r *http.Request) error {
	if s.o.Live == nil {
		return problem.New(problem.Unavailable, "live updates are not enabled on this server: poll GET /v1/alerts instead")
	}
	p := &params{q: r.URL.Query()}
	f := live.Filter{Scope: scope(r, p), Category: p.category(), MinSeverity: p.severity()}
	if p.err != nil {
		return p.err
	}
	sub, err := s.o.Live.Subscribe(f)
	switch {
	case errors.Is(err, live.ErrTooMany):
		e := problem.New(problem.Overloaded, "too many live alert streams are open on this server: close one (another console tab?) "+
			"or poll GET /v1/alerts, and retry later")
		e.RetryAfter = 30 * time.Second
		return e
	case errors.Is(err, live.ErrClosed):
		return problem.New(problem.Unavailable, "the server is shutting down: reconnect in a moment")
	case err != nil:
		return err
	}
	defer sub.Close()

	rc := http.NewResponseController(w)
	// The server's read and write timeouts are for ordinary requests; a
	// stream lives on. Each write gets its own deadline instead.
	rc.SetReadDeadline(time.Time{})
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // proxies: do not buffer the stream
	sw := &sseWriter{w: w, rc: rc}
	sw.write(fmt.Sprintf(": vigil alert stream; a heartbeat comment every %s when idle\nretry: 5000\n\n", s.o.Live.Heartbeat()))
	if sw.flush() != nil {
		return nil
	}
	tick := time.NewTicker(s.o.Live.Heartbeat())
	defer tick.Stop()
	caller := callerOf(r)
	changed := s.o.Auth.credentialsChanged()
	recheck := time.NewTicker(keyCacheTTL)
	defer recheck.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-changed:
			changed = s.o.Auth.credentialsChanged()
			if !s.o.Auth.stillHolds(r, caller) {
				return s.endStream(sw, caller)
			}
			continue
		case <-recheck.C:
			if !s.o.Auth.stillHolds(r, caller) {
				return s.endStream(sw, caller)
			}
			continue
		case a, ok := <-sub.Alerts():
			if !ok {
				if sub.Overflowed() {
					s.o.Logger.Info("live alert stream dropped: the client fell behind", "key", callerOf(r).keyID)
					sw.event("overflow", []byte(`{"message":"this stream fell too far behind and was closed: some alerts were not sent. `+
						`Read them with GET /v1/alerts and reconnect."}`))
					sw.flush()
				}
				return nil
			}
			data, err := json.Marshal(toAlertJSON(a))
			if err != nil {
				return nil // the stream has started: nothing to answer with
			}
			sw.event("alert", data)
		case <-tick.C:
			sw.write(": heartbeat\n\n")
		}
		if sw.flush() != nil {
			return nil
		}
	}
}

// endStream closes a live stream whose credential no longer holds as it
// did: the client's reconnection is authenticated again.
func (s *Server) endStream(sw *sseWriter, p principal) error {
	s.o.Logger.Info("live alert stream closed: its credential was revoked, ended or changed", "key", p.keyID, "user", p.user)
	sw.write(": closed: the credential of this stream was revoked, ended or changed; reconnect to sign in again\n\n")
	sw.flush()
	return nil
}

// sseWriter writes Server-Sent Events, each write under its own deadline,
// and remembers the first error.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

func (s *sseWriter) write(text string) {
	if s.err != nil {
		return
	}
	if err := s.rc.SetWriteDeadline(time.Now().Add(streamWriteWait)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.err = err
		return
	}
	_, s.err = s.w.Write([]byte(text))
}

// event writes one event; data is one line of JSON (json.Marshal escapes
// newlines inside strings, so it never spans lines).
func (s *sseWriter) event(name string, data []byte) {
	s.write("event: " + name + "\ndata: " + string(data) + "\n\n")
}

func (s *sseWriter) flush() error {
	if s.err == nil {
		s.err = s.rc.Flush()
	}
	return s.err
}
