package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/storage"
	"github.com/ory/fosite/token/jwt"
)

// testProvider is a real OpenID provider running in-process: fosite
// composed with its in-memory storage for the authorization code flow with
// PKCE (S256 only) and the openid scope, serving discovery and its JWKS.
// There is no login page: it signs in the user it was last told to. It can
// be told to misbehave as a compromised or misconfigured provider would.
type testProvider struct {
	srv    *httptest.Server
	issuer string
	p      fosite.OAuth2Provider
	key    *rsa.PrivateKey

	mu     sync.Mutex
	user   providerUser
	fault  string   // "", "nonce", "audience", "issuer", "deny", "plain-pkce"
	issued []string // every token it handed out, to look for in logs
}

// providerUser is who the provider says signed in.
type providerUser struct {
	sub, username string
	groups        []string
}

const (
	providerClientID     = "vigil-console"
	providerClientSecret = "a client secret only vigil and the provider know"
	providerKeyID        = "test-key-1"
)

// newTestProvider starts a provider for vigil's callback at redirect. With
// tlsOn it serves HTTPS (its certificate is srv.Certificate()), else plain
// HTTP on host (a loopback name: "localhost" is another site than the
// 127.0.0.1 vigil listens on, as a real provider would be).
func newTestProvider(t *testing.T, redirect string, tlsOn bool, host string) *testProvider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tp := &testProvider{key: key}
	mux := http.NewServeMux()
	tp.srv = httptest.NewUnstartedServer(mux)
	if tlsOn {
		tp.srv.StartTLS()
		tp.issuer = tp.srv.URL
	} else {
		tp.srv.Start()
		_, port, _ := net.SplitHostPort(tp.srv.Listener.Addr().String())
		tp.issuer = "http://" + host + ":" + port
	}
	t.Cleanup(tp.srv.Close)

	secret := make([]byte, 32)
	rand.Read(secret)
	cfg := &fosite.Config{
		IDTokenIssuer: tp.issuer, GlobalSecret: secret, SendDebugMessagesToClients: true,
		EnforcePKCE: true, EnablePKCEPlainChallengeMethod: false,
		AccessTokenLifespan: time.Hour, AuthorizeCodeLifespan: 5 * time.Minute, IDTokenLifespan: time.Hour,
		HashCost: 4, // bcrypt's least: the client secret's hash is not what is tested
	}
	hashed, err := (&fosite.BCrypt{Config: cfg}).Hash(context.Background(), []byte(providerClientSecret))
	if err != nil {
		t.Fatal(err)
	}
	st := storage.NewMemoryStore()
	st.Clients[providerClientID] = &fosite.DefaultClient{ID: providerClientID, Secret: hashed, RedirectURIs: []string{redirect},
		ResponseTypes: []string{"code"}, GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid", "profile", "email", "groups"}}
	keyGetter := func(context.Context) (any, error) { return key, nil }
	strategy := &compose.CommonStrategy{
		CoreStrategy:               compose.NewOAuth2HMACStrategy(cfg),
		OpenIDConnectTokenStrategy: &faultyIDTokens{inner: compose.NewOpenIDConnectStrategy(keyGetter, cfg), tp: tp},
		Signer:                     &jwt.DefaultSigner{GetPrivateKey: keyGetter},
	}
	tp.p = compose.Compose(cfg, st, strategy, compose.OAuth2AuthorizeExplicitFactory, compose.OpenIDConnectExplicitFactory, compose.OAuth2PKCEFactory)

	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		challenges := []string{"S256"}
		if _, fault := tp.state(); fault == "plain-pkce" {
			challenges = []string{"plain"}
		}
		json.NewEncoder(w).Encode(map[string]any{"issuer": tp.issuer, "authorization_endpoint": tp.issuer + "/authorize",
			"token_endpoint": tp.issuer + "/token", "jwks_uri": tp.issuer + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
			"code_challenge_methods_supported": challenges, "scopes_supported": []string{"openid", "profile", "email", "groups"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: providerKeyID, Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", tp.authorize)
	mux.HandleFunc("POST /token", tp.token)
	return tp
}

// signIn sets who the provider signs in next.
func (tp *testProvider) signIn(u providerUser) {
	tp.mu.Lock()
	tp.user = u
	tp.mu.Unlock()
}

// misbehave makes the provider's next answers faulty ("" is honest again).
func (tp *testProvider) misbehave(fault string) {
	tp.mu.Lock()
	tp.fault = fault
	tp.mu.Unlock()
}

func (tp *testProvider) state() (providerUser, string) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.user, tp.fault
}

func (tp *testProvider) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := tp.p.NewAuthorizeRequest(ctx, r)
	if err != nil {
		tp.p.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	u, fault := tp.state()
	if fault == "deny" {
		tp.p.WriteAuthorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithDescription("The user declined"))
		return
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	now := time.Now().UTC().Truncate(time.Second)
	groups := []any{7} // an entry that is no group name, as a careless mapper may send
	for _, g := range u.groups {
		groups = append(groups, g)
	}
	sess := &openid.DefaultSession{Subject: u.sub,
		Claims: &jwt.IDTokenClaims{Subject: u.sub, AuthTime: now, RequestedAt: now,
			Extra: map[string]any{"preferred_username": u.username, "groups": groups}},
		Headers: &jwt.Headers{Extra: map[string]any{"kid": providerKeyID}}}
	resp, err := tp.p.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		tp.p.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	tp.p.WriteAuthorizeResponse(ctx, w, ar, resp)
}

func (tp *testProvider) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := tp.p.NewAccessRequest(ctx, r, &openid.DefaultSession{})
	if err != nil {
		tp.p.WriteAccessError(ctx, w, ar, err)
		return
	}
	resp, err := tp.p.NewAccessResponse(ctx, ar)
	if err != nil {
		tp.p.WriteAccessError(ctx, w, ar, err)
		return
	}
	tp.mu.Lock()
	tp.issued = append(tp.issued, resp.GetAccessToken())
	if id, ok := resp.GetExtra("id_token").(string); ok {
		tp.issued = append(tp.issued, id)
	}
	tp.mu.Unlock()
	tp.p.WriteAccessResponse(ctx, w, ar, resp)
}

// tokens are the access and ID tokens handed out so far.
func (tp *testProvider) tokens() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]string(nil), tp.issued...)
}

// faultyIDTokens issues ID tokens as fosite does, or, when told to, with
// another sign-in's nonce, for another client, or from another issuer:
// properly signed with the provider's key, so only the claims betray them.
type faultyIDTokens struct {
	inner openid.OpenIDConnectTokenStrategy
	tp    *testProvider
}

func (f *faultyIDTokens) GenerateIDToken(ctx context.Context, lifespan time.Duration, r fosite.Requester) (string, error) {
	_, fault := f.tp.state()
	switch fault {
	case "nonce":
		r.GetRequestForm().Set("nonce", strings.Repeat("n", 43)) // a nonce of some other sign-in
	case "audience":
		r = otherClient{r}
	case "issuer":
		r.GetSession().(openid.Session).IDTokenClaims().Issuer = "https://sso.evil.example"
	}
	return f.inner.GenerateIDToken(ctx, lifespan, r)
}

// otherClient is a request as if made by another application.
type otherClient struct{ fosite.Requester }

func (otherClient) GetClient() fosite.Client {
	return &fosite.DefaultClient{ID: "another-application"}
}
