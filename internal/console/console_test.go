package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestServesEveryFile: each embedded file with its content type, the
// security headers, and revalidation by ETag.
func TestServesEveryFile(t *testing.T) {
	h := Handler()
	web, _ := fs.Sub(files, "web")
	n := 0
	err := fs.WalkDir(web, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rec := get(t, h, "GET", Prefix+p, nil)
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d", p, rec.Code)
		}
		want := contentTypes[path.Ext(p)]
		if got := rec.Header().Get("Content-Type"); got != want {
			t.Errorf("%s: Content-Type %q, want %q", p, got, want)
		}
		for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"} {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", p, k, got, v)
			}
		}
		etag := rec.Header().Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", p)
		}
		if rec := get(t, h, "GET", Prefix+p, map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("%s: revalidation answered %d with %d bytes, want 304 and none", p, rec.Code, rec.Body.Len())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d embedded files", n)
	}
}

func TestCSP(t *testing.T) {
	rec := get(t, Handler(), "GET", Prefix, nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<main") {
		t.Fatalf("GET %s: %d", Prefix, rec.Code)
	}
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "style-src 'self';", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %q", csp, bad)
		}
	}
}

func TestRoutes(t *testing.T) {
	h := Handler()
	for _, c := range []struct {
		method, target string
		code           int
		location       string
	}{
		{"GET", "/", http.StatusFound, Prefix},
		{"GET", "/console", http.StatusFound, Prefix},
		{"HEAD", Prefix + "app.css", 200, ""},
		{"GET", Prefix + "nope.js", 404, ""},
		{"GET", Prefix + "../console.go", 404, ""},
		{"GET", "/elsewhere", 404, ""},
		{"POST", Prefix, http.StatusMethodNotAllowed, ""},
	} {
		rec := get(t, h, c.method, c.target, nil)
		if rec.Code != c.code || rec.Header().Get("Location") != c.location {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.target, rec.Code, rec.Header().Get("Location"), c.code, c.location)
		}
		if rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%s %s: no CSP", c.method, c.target)
		}
	}
}

func TestTileServer(t *testing.T) {
	h, err := New(Options{TileURL: "https://tiles.example.org/{z}/{x}/{y}.png", TileAttribution: "© example"})
	if err != nil {
		t.Fatal(err)
	}
	rec := get(t, h, "GET", Prefix+"config.json", nil)
	if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "img-src 'self' data: https://tiles.example.org;") {
		t.Errorf("CSP does not allow the tile server: %s", rec.Header().Get("Content-Security-Policy"))
	}
	if !strings.Contains(rec.Body.String(), `"tile_url":"https://tiles.example.org/{z}/{x}/{y}.png"`) {
		t.Errorf("config.json: %s", rec.Body)
	}
	for _, bad := range []string{"ftp://x/{z}/{x}/{y}", "https://x/tiles", "/{z}/{x}/{y}", "https://a b/{z}/{x}/{y}"} {
		if _, err := New(Options{TileURL: bad}); err == nil {
			t.Errorf("tile URL %q accepted", bad)
		}
	}
}

var (
	inlineScript = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>`)
	handlerAttr  = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	styleAttr    = regexp.MustCompile(`(?i)\sstyle\s*=`)
	refAttr      = regexp.MustCompile(`(?:src|href)="([^"#:]+)"`)
	importFrom   = regexp.MustCompile(`(?m)^import .* from '([^']+)';`)
	forbiddenJS  = regexp.MustCompile(`\beval\(|new Function\(|\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|setAttribute\('style'`)
)

// TestNoInlineCode: the pages work under the CSP (no inline script, event
// handler or style attribute), build the DOM without HTML strings, and
// every file they reference is embedded.
func TestNoInlineCode(t *testing.T) {
	web, _ := fs.Sub(files, "web")
	html, err := fs.ReadFile(web, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range inlineScript.FindAllString(string(html), -1) {
		if !strings.Contains(tag, "src=") {
			t.Errorf("inline script: %s", tag)
		}
	}
	if m := handlerAttr.FindString(string(html)); m != "" {
		t.Errorf("inline event handler: %s", m)
	}
	if m := styleAttr.FindString(string(html)); m != "" {
		t.Errorf("style attribute: %s", m)
	}
	for _, m := range refAttr.FindAllStringSubmatch(string(html), -1) {
		if _, err := fs.Stat(web, m[1]); err != nil {
			t.Errorf("index.html references %s: %v", m[1], err)
		}
	}
	fs.WalkDir(web, "js", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(web, p)
		if m := forbiddenJS.FindString(string(b)); m != "" {
			t.Errorf("%s uses %s", p, m)
		}
		for _, m := range importFrom.FindAllStringSubmatch(string(b), -1) {
			target := path.Join(path.Dir(p), m[1])
			if _, err := fs.Stat(web, target); err != nil {
				t.Errorf("%s imports %s: not embedded", p, m[1])
			}
		}
		return nil
	})
}
