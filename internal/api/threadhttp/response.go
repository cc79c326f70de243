package threadhttp

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// maxAnswer bounds what a handler may write: the answer is buffered whole.
const maxAnswer = 1 << 20

// response buffers a handler's answer. Headers changed after the first
// Write still count (net/http would ignore them); vigil's handlers set
// theirs first.
type response struct {
	header http.Header
	status int
	body   []byte
	over   bool
}

func (w *response) reset() {
	clear(w.header)
	if w.header == nil {
		w.header = http.Header{}
	}
	w.status, w.body, w.over = 0, w.body[:0], false
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // 1xx answers are not sent
		w.status = code
	}
}

func (w *response) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if len(w.body)+len(b) > maxAnswer {
		w.over = true
		return 0, http.ErrContentLength
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

// closes reports whether the handler asked to close the connection.
func (w *response) closes() bool {
	for _, v := range w.header["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "close") {
				return true
			}
		}
	}
	return false
}

// appendTo appends the answer's bytes on the wire to out.
func (w *response) appendTo(out []byte, req *http.Request, keep bool) []byte {
	status, body := w.status, w.body
	if status == 0 {
		status = http.StatusOK
	}
	if status < 100 || status > 999 { // a handler bug: never write it as it is
		status, body = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"invalid status"}}`)
		clear(w.header)
		w.header.Set("Content-Type", "application/json")
		keep = false
	}
	if w.over { // a handler bug: never send a truncated answer
		status, body = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"answer too large"}}`)
		clear(w.header)
		w.header.Set("Content-Type", "application/json")
		keep = false
	}
	out = append(out, "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(status), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(status)...)
	out = append(out, "\r\n"...)
	bodyAllowed := status != http.StatusNoContent && status != http.StatusNotModified
	if bodyAllowed && len(body) > 0 && w.header.Get("Content-Type") == "" {
		w.header.Set("Content-Type", http.DetectContentType(body))
	}
	w.header.Del("Content-Length")
	w.header.Del("Transfer-Encoding")
	w.header.Del("Connection")
	for k, vs := range w.header {
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				continue // never let a value end the header early
			}
			out = append(out, k...)
			out = append(out, ": "...)
			out = append(out, v...)
			out = append(out, "\r\n"...)
		}
	}
	out = append(out, "Date: "...)
	out = time.Now().UTC().AppendFormat(out, http.TimeFormat)
	out = append(out, "\r\n"...)
	if bodyAllowed {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, int64(len(body)), 10)
		out = append(out, "\r\n"...)
	}
	if !keep {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, "\r\n"...)
	if bodyAllowed && req.Method != http.MethodHead {
		out = append(out, body...)
	}
	return out
}
