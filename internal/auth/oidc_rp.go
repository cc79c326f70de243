package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/vigil-project/vigil/internal/clientconf"
)

// The relying party: vigil's side of the OpenID Connect authorization code
// flow with PKCE (S256). Start makes the state, the nonce and the PKCE
// verifier and seals them in a short-lived pre-auth cookie; Finish checks
// the browser's answer against it, redeems the code and verifies the ID
// token. Everything from the browser and from the provider is treated as
// hostile: sizes are bounded, every check has its own reason.

// PreAuthCookie holds a sign-in in progress. The __Host- prefix makes
// browsers refuse it from a sibling subdomain (which could otherwise plant
// its own sign-in in a victim's browser) and demands Secure and Path=/.
const PreAuthCookie = "__Host-vigil_oidc"

const (
	// PreAuthLifetime bounds a sign-in at the provider.
	PreAuthLifetime = 10 * time.Minute
	// maxPreAuthCookie bounds the cookie read back (a real one has ~500
	// bytes).
	maxPreAuthCookie = 2048
	// maxUsedStates bounds the single-use table: beyond it (a flood of
	// sign-ins the provider vouched for) new answers are refused, never an
	// old entry forgotten, so a replay is never accepted.
	maxUsedStates = 100000
	// maxProviderBody bounds every answer read from the provider.
	maxProviderBody = 1 << 20
	providerTimeout = 15 * time.Second
	// discoveryRetry: after a failed discovery, sign-ins are refused for
	// this long without asking again, so an outage is not hammered.
	discoveryRetry = 10 * time.Second
	// rediscoverAfter: the discovery document is fetched again after this
	// long (endpoints and algorithms may change); on failure the old one
	// stays.
	rediscoverAfter = 24 * time.Hour
)

// Why an OIDC sign-in was refused: metric labels and audit reasons.
const (
	OIDCNoPreAuth      = "no_preauth"
	OIDCPreAuthInvalid = "preauth_invalid"
	OIDCPreAuthExpired = "preauth_expired"
	OIDCStateMismatch  = "state_mismatch"
	OIDCReplayed       = "replayed"
	OIDCBadRequest     = "bad_request"
	OIDCProviderError  = "provider_error"
	OIDCUnavailable    = "provider_unavailable"
	OIDCCodeRefused    = "code_refused"
	OIDCTokenInvalid   = "token_invalid"
	OIDCTokenExpired   = "token_expired"
	OIDCWrongIssuer    = "wrong_issuer"
	OIDCWrongAudience  = "wrong_audience"
	OIDCNonceMismatch  = "nonce_mismatch"
	OIDCBusy           = "busy"
)

// OIDCReasons lists every reason Finish and Start may give.
var OIDCReasons = []string{OIDCNoPreAuth, OIDCPreAuthInvalid, OIDCPreAuthExpired, OIDCStateMismatch, OIDCReplayed, OIDCBadRequest,
	OIDCProviderError, OIDCUnavailable, OIDCCodeRefused, OIDCTokenInvalid, OIDCTokenExpired, OIDCWrongIssuer, OIDCWrongAudience,
	OIDCNonceMismatch, OIDCBusy}

// OIDCError is a refused OIDC sign-in: Reason for counters and the audit
// log, Msg for the user (what went wrong, what to do), Err the cause for
// the server's log. None of them holds a token, a code or a state.
type OIDCError struct {
	Reason string
	Msg    string
	Err    error
}

func (e *OIDCError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Msg + ": " + e.Err.Error()
	}
	return e.Reason + ": " + e.Msg
}

func (e *OIDCError) Unwrap() error { return e.Err }

func oidcErr(reason string, err error, format string, args ...any) *OIDCError {
	return &OIDCError{Reason: reason, Msg: fmt.Sprintf(format, args...), Err: err}
}

// OIDCIdentity is who the provider vouched for, after every check.
type OIDCIdentity struct {
	Issuer  string
	Subject string
	// Key is where vigil keeps the user: hex SHA-256 of issuer and
	// subject, cut to 32 digits. Stable while the provider keeps the
	// subject; never derived from a name the user might choose.
	Key string
	// Username is the name shown in vigil (without the "oidc:" prefix).
	Username string
	// Groups from the groups claim; SkippedGroups counts entries that were
	// not usable strings.
	Groups        []string
	SkippedGroups int
	// Next is the console page to go on to ("" for the default).
	Next string
}

// RPOptions are the relying party's clock and logger.
type RPOptions struct {
	Now    func() time.Time // default time.Now
	Logger *slog.Logger
}

// RP is the relying party of one provider configuration. Safe for
// concurrent use.
type RP struct {
	cfg    OIDCConfig
	secret []byte
	aead   cipher.AEAD
	aad    []byte
	client *http.Client
	now    func() time.Time
	log    *slog.Logger

	discoMu sync.Mutex // one discovery at a time
	mu      sync.Mutex
	d       *discovered
	failed  time.Time
	failErr error
	used    map[string]int64 // SHA-256 of a used state → its cookie's end, Unix ns
	maxUsed int              // maxUsedStates; smaller in tests
}

type discovered struct {
	at       time.Time
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// NewRP builds the relying party of c (validated): it reads the client
// secret and the TLS files through env and contacts nobody. The provider's
// discovery document is fetched at the first sign-in, so vigil starts, and
// passwords work, while the provider is away.
func NewRP(c OIDCConfig, env clientconf.Env, o RPOptions) (*RP, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	secret, err := env.Secret("client_secret", c.ClientSecretFile, c.ClientSecretEnv)
	if err != nil {
		return nil, fmt.Errorf("oidc.%w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if !c.TLS.IsZero() {
		if tr.TLSClientConfig, err = env.TLSConfig(c.TLS, ""); err != nil {
			return nil, fmt.Errorf("oidc.%w", err)
		}
	}
	// The pre-auth cookie's key comes from the client secret, which every
	// server of one deployment shares: a sign-in started on one finishes
	// on another.
	key, err := hkdf.Key(sha256.New, secret, nil, "vigil oidc pre-auth cookie v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &RP{cfg: c, secret: secret, aead: aead,
		// A cookie made for another issuer or client does not open.
		aad: []byte("vigil oidc\x00" + c.Issuer + "\x00" + c.ClientID),
		client: &http.Client{Transport: limitedTransport{tr}, Timeout: providerTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return errors.New("the provider answered with a redirect: vigil follows none at the provider's endpoints (check the issuer URL)")
			}},
		now: o.Now, log: o.Logger, used: map[string]int64{}, maxUsed: maxUsedStates}, nil
}

// Name is the provider's name for the sign-in button.
func (rp *RP) Name() string { return rp.cfg.Name }

// Issuer is the configured issuer URL.
func (rp *RP) Issuer() string { return rp.cfg.Issuer }

// Grant maps groups to a role and tenants (OIDCConfig.Grant).
func (rp *RP) Grant(groups []string) (role string, tenants, matched []string, ok bool) {
	return rp.cfg.Grant(groups)
}

// limitedTransport bounds every answer's body: a provider (or whoever
// answers in its place) cannot make vigil read without end.
type limitedTransport struct{ base http.RoundTripper }

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		resp.Body = &limitedBody{rc: resp.Body, r: io.LimitReader(resp.Body, maxProviderBody+1)}
	}
	return resp, err
}

type limitedBody struct {
	rc io.ReadCloser
	r  io.Reader // one byte beyond the limit tells a body of exactly the limit from a larger one
	n  int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.n += int64(n); b.n > maxProviderBody {
		return 0, fmt.Errorf("the provider's answer is larger than %d bytes", maxProviderBody)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// discover returns the provider's endpoints and ID token verifier, fetching
// the discovery document when there is none yet (or it is a day old).
func (rp *RP) discover(ctx context.Context) (*discovered, error) {
	now := rp.now()
	rp.mu.Lock()
	d, failed, failErr := rp.d, rp.failed, rp.failErr
	rp.mu.Unlock()
	if d != nil && now.Sub(d.at) < rediscoverAfter {
		return d, nil
	}
	if d == nil && failErr != nil && now.Sub(failed) < discoveryRetry {
		return nil, failErr
	}
	rp.discoMu.Lock()
	defer rp.discoMu.Unlock()
	rp.mu.Lock()
	if rp.d != nil && now.Sub(rp.d.at) < rediscoverAfter { // another request just did it
		d = rp.d
		rp.mu.Unlock()
		return d, nil
	}
	rp.mu.Unlock()
	nd, err := rp.fetchDiscovery(ctx)
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if err != nil {
		err = oidcErr(OIDCUnavailable, err, "the sign-in provider %s cannot be reached or its discovery document is not usable: retry shortly, or tell an admin", rp.cfg.Name)
		rp.log.Warn("OIDC discovery failed", "issuer", rp.cfg.Issuer, "err", err)
		if rp.d != nil {
			return rp.d, nil // a day-old document beats none
		}
		rp.failed, rp.failErr = now, err
		return nil, err
	}
	nd.at = now
	rp.d, rp.failErr = nd, nil
	return nd, nil
}

func (rp *RP) fetchDiscovery(ctx context.Context) (*discovered, error) {
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, rp.client), providerTimeout)
	defer cancel()
	p, err := oidc.NewProvider(ctx, rp.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	var meta struct {
		JWKSURI    string   `json:"jwks_uri"`
		Challenges []string `json:"code_challenge_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, err
	}
	ep := p.Endpoint()
	for what, u := range map[string]string{"authorization_endpoint": ep.AuthURL, "token_endpoint": ep.TokenURL, "jwks_uri": meta.JWKSURI} {
		if err := checkEndpoint(what, u); err != nil {
			return nil, fmt.Errorf("discovery document: %w", err)
		}
	}
	if len(meta.Challenges) > 0 && !slices.Contains(meta.Challenges, "S256") {
		return nil, fmt.Errorf("discovery document: code_challenge_methods_supported %q lacks S256, which vigil requires (PKCE)", meta.Challenges)
	}
	scopes := []string{oidc.ScopeOpenID}
	for _, s := range rp.cfg.Scopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return &discovered{
		oauth: oauth2.Config{ClientID: rp.cfg.ClientID, ClientSecret: string(rp.secret), Endpoint: ep,
			RedirectURL: rp.cfg.RedirectURL, Scopes: scopes},
		// Issuer and audience are checked in Finish, each with its own
		// reason; go-oidc checks the signature, the algorithm and expiry.
		verifier: p.Verifier(&oidc.Config{ClientID: rp.cfg.ClientID, SkipClientIDCheck: true, SkipIssuerCheck: true, Now: rp.now}),
	}, nil
}

// preAuth is what the pre-auth cookie seals.
type preAuth struct {
	V        int    `json:"v"`
	Exp      int64  `json:"exp"` // Unix ns
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"pv"`
	Next     string `json:"next,omitempty"`
}

func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Start begins a sign-in: it returns where to send the browser and the
// pre-auth cookie to set. next is a console page ("#/alerts") to go on to
// afterwards; anything else is dropped.
func (rp *RP) Start(ctx context.Context, next string) (string, *http.Cookie, error) {
	d, err := rp.discover(ctx)
	if err != nil {
		return "", nil, err
	}
	state, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	nonce, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	verifier := oauth2.GenerateVerifier()
	if !ValidNext(next) {
		next = ""
	}
	pa := preAuth{V: 1, Exp: rp.now().Add(PreAuthLifetime).UnixNano(), State: state, Nonce: nonce, Verifier: verifier, Next: next}
	pt, _ := json.Marshal(pa)
	sealed := base64.RawURLEncoding.EncodeToString(rp.aead.Seal(nil, nil, pt, rp.aad))
	c := &http.Cookie{Name: PreAuthCookie, Value: sealed, Path: "/", MaxAge: int(PreAuthLifetime / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode} // Lax: it must come back on the provider's redirect
	return d.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), c, nil
}

// ClearPreAuth is the cookie that removes a pre-auth cookie.
func ClearPreAuth() *http.Cookie {
	return &http.Cookie{Name: PreAuthCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode}
}

// openPreAuth authenticates and decodes a pre-auth cookie.
func (rp *RP) openPreAuth(v string) (preAuth, *OIDCError) {
	bad := func(err error) (preAuth, *OIDCError) {
		return preAuth{}, oidcErr(OIDCPreAuthInvalid, err, "the sign-in cookie is not one this vigil made (changed, or from another configuration): start again from the sign-in page")
	}
	if len(v) > maxPreAuthCookie {
		return bad(errors.New("cookie too long"))
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return bad(errors.New("cookie not base64url"))
	}
	pt, err := rp.aead.Open(nil, nil, raw, rp.aad)
	if err != nil {
		return bad(errors.New("cookie does not authenticate"))
	}
	var pa preAuth
	dec := json.NewDecoder(strings.NewReader(string(pt)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pa); err != nil || pa.V != 1 || len(pa.State) != 43 || len(pa.Nonce) != 43 || len(pa.Verifier) != 43 {
		return bad(errors.New("cookie content is not a v1 pre-auth"))
	}
	return pa, nil
}

// markUsed records a state as used and returns its key in the table; an
// error when it was already, or when the table is full. Finish takes the
// record back (unmark) when the answer is then refused, so the table holds
// only answers in flight and answers the provider vouched for: forged
// answers (an error, a made-up code) cannot fill it and lock everyone out.
// Single use still holds: while an answer is checked a second use is
// refused; once refused, presenting it again is refused again (the same
// error, a code the provider redeemed or refused, the same ID token
// checks), and only the browser holding its pre-auth cookie can present it
// at all.
func (rp *RP) markUsed(state string, exp int64, now time.Time) (string, *OIDCError) {
	sum := sha256.Sum256([]byte(state))
	k := hex.EncodeToString(sum[:])
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if _, dup := rp.used[k]; dup {
		return "", oidcErr(OIDCReplayed, nil, "this sign-in answer was used already (a reload, the back button, or a replay): start again from the sign-in page")
	}
	if len(rp.used) >= rp.maxUsed {
		for s, end := range rp.used {
			if end <= now.UnixNano() {
				delete(rp.used, s)
			}
		}
		if len(rp.used) >= rp.maxUsed {
			return "", oidcErr(OIDCBusy, nil, "too many sign-ins at once: retry in a few minutes")
		}
	}
	rp.used[k] = exp
	return k, nil
}

// unmark takes back the record of a refused answer (markUsed).
func (rp *RP) unmark(k string) {
	rp.mu.Lock()
	delete(rp.used, k)
	rp.mu.Unlock()
}

// Finish checks the browser's return from the provider (the callback's
// query) against the pre-auth cookie, redeems the code with the PKCE
// verifier and verifies the ID token: signature against the provider's
// keys, issuer, audience and authorized party, expiry, nonce, and the
// access token hash when given. Each refusal is an *OIDCError.
func (rp *RP) Finish(ctx context.Context, cookie string, q url.Values) (id *OIDCIdentity, err error) {
	now := rp.now()
	if cookie == "" {
		return nil, oidcErr(OIDCNoPreAuth, nil, "this browser has no sign-in in progress (it ended after %d minutes, cookies are blocked, or it was started in another browser): start again from the sign-in page", PreAuthLifetime/time.Minute)
	}
	pa, oerr := rp.openPreAuth(cookie)
	if oerr != nil {
		return nil, oerr
	}
	if now.UnixNano() >= pa.Exp {
		return nil, oidcErr(OIDCPreAuthExpired, nil, "the sign-in took longer than %d minutes: start again from the sign-in page", PreAuthLifetime/time.Minute)
	}
	state := q.Get("state")
	if len(q["state"]) != 1 || subtle.ConstantTimeCompare([]byte(state), []byte(pa.State)) != 1 {
		return nil, oidcErr(OIDCStateMismatch, nil, "the provider's answer does not belong to this browser's sign-in (it was started again meanwhile, or the link was forged): start again from the sign-in page")
	}
	// An answer is good once: from here a second use is refused. The
	// record stays only if every check passes (markUsed says why).
	used, oerr := rp.markUsed(pa.State, pa.Exp, now)
	if oerr != nil {
		return nil, oerr
	}
	defer func() {
		if err != nil {
			rp.unmark(used)
		}
	}()
	if e := q.Get("error"); e != "" {
		return nil, oidcErr(OIDCProviderError, nil, "the sign-in provider refused: %s%s", safeText(e, 64), describe(q.Get("error_description")))
	}
	code := q.Get("code")
	if len(q["code"]) != 1 || code == "" || len(code) > 4096 {
		return nil, oidcErr(OIDCBadRequest, nil, "the provider's answer has no usable authorization code: start again from the sign-in page")
	}
	d, err := rp.discover(ctx)
	if err != nil {
		return nil, err
	}
	xctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, rp.client), providerTimeout)
	defer cancel()
	tok, err := d.oauth.Exchange(xctx, code, oauth2.VerifierOption(pa.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			// The error code only: the body may echo what was sent.
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			return nil, oidcErr(OIDCCodeRefused, fmt.Errorf("token endpoint answered %d %s", status, safeText(re.ErrorCode, 64)),
				"the provider refused the authorization code (%s): it was used already, has expired, or was not issued to vigil: start again from the sign-in page", orWord(safeText(re.ErrorCode, 64), "no reason given"))
		}
		return nil, oidcErr(OIDCUnavailable, errors.New(scrub(err.Error(), code)), "the sign-in provider %s could not be asked to redeem the sign-in: retry shortly", rp.cfg.Name)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, oidcErr(OIDCTokenInvalid, nil, "the provider answered without an ID token: is the client allowed the openid scope?")
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		var te *oidc.TokenExpiredError
		if errors.As(err, &te) {
			return nil, oidcErr(OIDCTokenExpired, nil, "the provider's ID token expired at %s: check the clocks of vigil and the provider", te.Expiry.UTC().Format(time.RFC3339))
		}
		return nil, oidcErr(OIDCTokenInvalid, err, "the provider's ID token is not valid (signature, algorithm or format): tell an admin")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, oidcErr(OIDCTokenInvalid, err, "the provider's ID token claims do not decode")
	}
	if idt.Issuer != rp.cfg.Issuer {
		return nil, oidcErr(OIDCWrongIssuer, nil, "the ID token was issued by %.200q, not by the configured issuer %s", idt.Issuer, rp.cfg.Issuer)
	}
	azp, _ := claims["azp"].(string)
	switch {
	case !slices.Contains(idt.Audience, rp.cfg.ClientID):
		return nil, oidcErr(OIDCWrongAudience, nil, "the ID token is meant for another client (audience %.200q), not for vigil (%s)", strings.Join(idt.Audience, " "), rp.cfg.ClientID)
	case azp != "" && azp != rp.cfg.ClientID, len(idt.Audience) > 1 && azp != rp.cfg.ClientID:
		return nil, oidcErr(OIDCWrongAudience, nil, "the ID token was issued to another party (azp %.100q) than vigil (%s)", azp, rp.cfg.ClientID)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pa.Nonce)) != 1 {
		return nil, oidcErr(OIDCNonceMismatch, nil, "the ID token's nonce is not this sign-in's: it was issued for another sign-in (replayed?): start again")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, oidcErr(OIDCTokenInvalid, err, "the ID token does not match the access token that came with it (at_hash)")
		}
	}
	if idt.Subject == "" || len(idt.Subject) > 255 {
		return nil, oidcErr(OIDCTokenInvalid, nil, "the ID token's subject is empty or longer than 255 bytes")
	}
	id = &OIDCIdentity{Issuer: idt.Issuer, Subject: idt.Subject, Key: SubjectKey(idt.Issuer, idt.Subject), Next: pa.Next}
	id.Groups, id.SkippedGroups = claimStrings(claims[rp.cfg.GroupsClaim])
	id.Username = rp.username(claims, id.Key)
	return id, nil
}

// SubjectKey is where vigil keeps the user of a subject at an issuer.
func SubjectKey(issuer, subject string) string {
	sum := sha256.Sum256([]byte(issuer + "\x00" + subject))
	return hex.EncodeToString(sum[:16])
}

// username is the configured claim, else a verified email, else a name
// made from the key; only what a user name may hold (ValidOIDCName).
func (rp *RP) username(claims map[string]any, key string) string {
	if s, ok := claims[rp.cfg.UsernameClaim].(string); ok {
		if n := strings.ToLower(strings.TrimSpace(s)); ValidOIDCName(n) {
			return n
		}
	}
	if v, _ := claims["email_verified"].(bool); v {
		if s, ok := claims["email"].(string); ok {
			if n := strings.ToLower(strings.TrimSpace(s)); ValidOIDCName(n) {
				return n
			}
		}
	}
	return "sub-" + key[:12]
}

// ValidOIDCName: 1 to 64 of a-z, 0-9, '.', '_', '-', '@', '+', starting
// with a letter or digit; the rule of password users' names.
func ValidOIDCName(n string) bool {
	if len(n) == 0 || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._-@+", rune(c))) {
			return false
		}
	}
	return true
}

// ValidNext reports whether s is a console page to go on to: "#/" and a
// route, short, of plain characters, not the sign-in page itself.
func ValidNext(s string) bool {
	if !strings.HasPrefix(s, "#/") || len(s) > 200 || strings.HasPrefix(s, "#/signin") {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/_-.?=&%:+,~", c) >= 0) {
			return false
		}
	}
	return true
}

// safeText keeps a provider's word for the user: printable ASCII, cut.
func safeText(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		if c := s[i]; c >= ' ' && c <= '~' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func describe(d string) string {
	if d = safeText(d, 200); d != "" {
		return " (" + d + ")"
	}
	return ""
}

func orWord(s, w string) string {
	if s == "" {
		return w
	}
	return s
}

// scrub removes a secret from an error text (url.Error quotes request
// URLs; the code must not reach a log).
func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}
