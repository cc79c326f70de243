// Package webhook delivers alerts as HTTPS POSTs of their JSON, signed
// with HMAC-SHA256 so the receiver can check they come from vigil:
//
//	X-Vigil-Timestamp: <Unix seconds>
//	X-Vigil-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>
//
// 2xx is delivered; 408, 429 and 5xx (and network errors) are retried,
// honouring Retry-After; any other answer is a permanent refusal.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/vigil-project/vigil/internal/sink"
)

// Header names.
const (
	HeaderSignature = "X-Vigil-Signature"
	HeaderTimestamp = "X-Vigil-Timestamp"
	HeaderAlert     = "X-Vigil-Alert-Id"
)

// Webhook is a sink.Target.
type Webhook struct {
	url     string
	secret  []byte
	headers http.Header
	client  *http.Client
	now     func() time.Time
}

var _ sink.Target = (*Webhook)(nil)

// New builds a webhook from a validated configuration: it reads the secret
// and the TLS files now, so a mistake shows at start (and in check-config).
func New(c sink.Config, env sink.Env) (*Webhook, error) {
	if c.Type != sink.TypeWebhook {
		return nil, fmt.Errorf("webhook: a %s sink", c.Type)
	}
	secret, err := env.Secret("secret", c.SecretFile, c.SecretEnv)
	if err != nil {
		return nil, err
	}
	if len(secret) < 16 {
		return nil, errors.New("the secret is shorter than 16 bytes: use a long random one (e.g. openssl rand -hex 32)")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := env.TLSConfig(c.TLS, u.Hostname())
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	h := http.Header{}
	for k, v := range c.Headers {
		h.Set(k, v)
	}
	return &Webhook{url: c.URL, secret: secret, headers: h, now: time.Now,
		client: &http.Client{Transport: tr,
			// A redirect would replay a signed alert to another address:
			// answer it as the failure it is.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// Sign returns the X-Vigil-Signature value of body sent at timestamp ts
// (Unix seconds, as in X-Vigil-Timestamp).
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a request's signature as a receiver does: the HMAC must
// match and the timestamp be within maxAge of now (replays are refused).
func Verify(secret []byte, ts, sig string, body []byte, now time.Time, maxAge time.Duration) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q is not Unix seconds", HeaderTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxAge || d < -maxAge {
		return fmt.Errorf("%s is %v away from now: a replay, or a clock off", HeaderTimestamp, d.Round(time.Second))
	}
	if !hmac.Equal([]byte(sig), []byte(Sign(secret, ts, body))) {
		return errors.New("the signature does not match")
	}
	return nil
}

// maxAnswer bounds what is read of an answer (it is only reported).
const maxAnswer = 64 << 10

// Send POSTs one alert.
func (w *Webhook) Send(ctx context.Context, m *sink.Message) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(m.JSON))
	if err != nil {
		return sink.Permanent(err)
	}
	for k, v := range w.headers {
		req.Header[k] = v
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil-webhook/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.secret, ts, m.JSON))
	req.Header.Set(HeaderAlert, m.Alert.ID)
	resp, err := w.client.Do(req)
	if err != nil {
		return err // network: retried
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // lets the connection be reused
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	err = fmt.Errorf("%s answered %d %s: %q", sink.Redact(w.url), code, http.StatusText(code), clip(answer))
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), w.now()); ok {
			return &sink.RetryAfterError{Err: err, After: d}
		}
		return err
	default:
		return sink.Permanent(err)
	}
}

// retryAfter parses Retry-After: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// clip keeps the start of an answer for the error: a hostile receiver
// cannot fill the log.
func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}
