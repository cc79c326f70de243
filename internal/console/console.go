// Package console is vigil's web console for analysts: static files
// embedded in the binary (HTML, CSS and plain ES modules, no build step)
// that talk to the REST API under /v1 with the analyst's credential.
//
// The handler serves the files under /console/ and redirects / there. Every
// answer carries a strict Content-Security-Policy (scripts and styles only
// from the console itself, no inline code, no eval), refuses framing, and
// is revalidated by ETag so a new binary's console is picked up at once.
package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

//go:embed web
var files embed.FS

// Prefix is where the console lives.
const Prefix = "/console/"

// Options configure the console.
type Options struct {
	// TileURL, when set, is a raster tile server template with {z}, {x}
	// and {y} (e.g. "https://tiles.example.org/{z}/{x}/{y}.png"). Maps
	// draw tiles under the tracks; without it they draw tracks on a plain
	// projection with a graticule, which needs nothing from the network.
	TileURL string
	// TileAttribution is shown under maps that use TileURL.
	TileAttribution string
}

type file struct {
	body  []byte
	ctype string
	etag  string
}

type handler struct {
	files map[string]file // by path under Prefix, "" is index.html
	csp   string
}

// Handler serves the console with no tile server: maps are drawn offline.
func Handler() http.Handler {
	h, err := New(Options{})
	if err != nil {
		panic(err) // the embedded files are fixed at build time; the tests read them
	}
	return h
}

// New serves the console with o.
func New(o Options) (http.Handler, error) {
	imgSrc := "'self' data:"
	if o.TileURL != "" {
		origin, err := tileOrigin(o.TileURL)
		if err != nil {
			return nil, err
		}
		imgSrc += " " + origin
	}
	h := &handler{files: map[string]file{},
		csp: "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + imgSrc + "; connect-src 'self'; " +
			"font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"}
	web, _ := fs.Sub(files, "web")
	err := fs.WalkDir(web, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("console: %s: no content type for %q", p, path.Ext(p))
		}
		b, err := fs.ReadFile(web, p)
		if err != nil {
			return err
		}
		h.add(p, b, ct)
		return nil
	})
	if err != nil {
		return nil, err
	}
	cfg, _ := json.Marshal(map[string]string{"tile_url": o.TileURL, "tile_attribution": o.TileAttribution})
	h.add("config.json", cfg, "application/json")
	return h, nil
}

func (h *handler) add(p string, b []byte, ctype string) {
	sum := sha256.Sum256(b)
	h.files[p] = file{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// tileOrigin checks a tile template and returns its origin for the CSP.
func tileOrigin(tmpl string) (string, error) {
	u, err := url.Parse(tmpl)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("console: tile URL %q: want http(s)://host/…/{z}/{x}/{y}…", tmpl)
	}
	for _, p := range []string{"{z}", "{x}", "{y}"} {
		if !strings.Contains(tmpl, p) {
			return "", fmt.Errorf("console: tile URL %q lacks %s", tmpl, p)
		}
	}
	if strings.ContainsAny(u.Host, " ;'\"") {
		return "", fmt.Errorf("console: tile URL %q: bad host", tmpl)
	}
	return u.Scheme + "://" + u.Host, nil
}

// contentTypes are set explicitly: the system's MIME table may lack some
// (a module script served as text/plain does not run).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "the console only answers GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/" || r.URL.Path+"/" == Prefix {
		hd.Set("Cache-Control", "no-cache")
		http.Redirect(w, r, Prefix, http.StatusFound)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		hd.Set("Cache-Control", "no-store")
		http.NotFound(w, r)
		return
	}
	if rest == "" {
		rest = "index.html"
	}
	f, ok := h.files[rest]
	if !ok || strings.Contains(rest, "..") {
		hd.Set("Cache-Control", "no-store")
		http.Error(w, "no such console file: the console's pages are under "+Prefix+"#/…", http.StatusNotFound)
		return
	}
	// Revalidate every time: cheap (304 on a matching ETag) and a new
	// binary's files are never mixed with an old cached module.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	hd.Set("Content-Type", f.ctype)
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", fmt.Sprint(len(f.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(f.body)
	}
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
