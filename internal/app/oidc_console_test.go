package app

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/vigil-project/vigil/internal/auth"
)

// TestOIDCConsole signs in to the console in chromium through the provider
// on another site (http://localhost, vigil on http://127.0.0.1): the
// sign-in page offers "Sign in with Test SSO", the round trip lands on the
// page asked for with a session of the mapped role, the cookies keep their
// flags across the cross-site redirects, sign-out ends it, and a user with
// no mapped group sees the refusal as a page with a way back.
func TestOIDCConsole(t *testing.T) {
	shots := os.Getenv("VIGIL_ARTIFACTS")
	if shots == "" {
		shots = t.TempDir()
	}
	f := newOIDCFixture(t, false, "localhost")
	f.tp.signIn(bob)
	b := newBrowser(t, shots)
	b.do("open the console", chromedp.Navigate(f.ts.base+"/console/#/incidents"))
	b.waitJS("the provider's button", `(document.getElementById('oidc-signin') || {}).textContent === 'Sign in with Test SSO' && !!document.getElementById('user')`)
	if href := b.eval(`document.getElementById('oidc-signin').getAttribute('href')`); href != "/v1/session/oidc?next=%23%2Fincidents" {
		t.Errorf("the button leads to %q", href)
	}
	b.shot("oidc-01-signin")
	b.do("sign in at the provider", chromedp.Click("#oidc-signin"))
	waitAfterNavigation(b, "back in the console, signed in", `location.pathname === '/console/' && location.hash === '#/incidents' && !document.getElementById('nav').hidden`)
	me, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`fetch('/v1/me').then(r => r.json()).then(m => [m.user, m.role, m.tenants.join(','), m.session.method].join(' '))`, chromedp.EvalAwaitPromise))
	if err != nil || me != "oidc:bob viewer fleet-a oidc" {
		t.Fatalf("GET /v1/me in the console: %q %v\npage log:\n%s", me, err, b.log())
	}
	cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	var session bool
	for _, c := range cookies.Cookies {
		switch c.Name {
		case "__Host-vigil_session":
			session = true
			if !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
				t.Errorf("the session cookie's flags: %+v", c)
			}
		case auth.PreAuthCookie:
			t.Errorf("the pre-auth cookie outlived the sign-in: %+v", c)
		}
	}
	if !session {
		t.Fatalf("chromium kept no session cookie\npage log:\n%s", b.log())
	}
	// The console works with it: a page of data, then sign-out.
	b.do("the alerts", chromedp.Navigate(f.ts.base+"/console/#/alerts"))
	b.waitJS("the alerts page", `document.getElementById('page-title') && /Alert queue/.test(document.getElementById('page-title').textContent)`)
	b.shot("oidc-02-signed-in")
	b.signOut()
	if code, _ := f.me(t, f.browser(t)); code != 401 {
		t.Errorf("GET /v1/me without the cookie: %d", code)
	}

	// Cleo's groups give no role: a page says so and leads back.
	f.tp.signIn(cleo)
	b.do("sign in as cleo", chromedp.Click("#oidc-signin"))
	waitAfterNavigation(b, "the refusal", `!!document.getElementById('problem')`)
	if msg := b.eval(`document.getElementById('problem').textContent`); !strings.Contains(msg, "none of your groups at Test SSO gives a role") {
		t.Errorf("the refusal says %q", msg)
	}
	b.shot("oidc-03-refused")
	b.do("back", chromedp.Click(`a[href="/console/#/signin"]`))
	waitAfterNavigation(b, "the sign-in page again", `location.hash.startsWith('#/signin') && !!document.getElementById('oidc-signin')`)
	if p := b.problems(); len(p) > 0 {
		t.Errorf("the pages logged exceptions or CSP violations:\n%s", strings.Join(p, "\n"))
	}
}

// waitAfterNavigation waits until js is true in whatever page the tab
// shows: while redirects replace the page, evaluating fails and is tried
// again.
func waitAfterNavigation(b *browser, what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	url, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.href + ' ' + document.body.innerText.slice(0, 300)`))
	b.t.Fatalf("waiting for %s (%s): %v; the tab shows %s\npage log:\n%s", what, js, last, url, b.log())
}
