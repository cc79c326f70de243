package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/api"
	"github.com/vigil-project/vigil/internal/api/live"
	"github.com/vigil-project/vigil/internal/api/threadhttp"
	authn "github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/blockio"
	"github.com/vigil-project/vigil/internal/clientconf"
	"github.com/vigil-project/vigil/internal/config"
	"github.com/vigil-project/vigil/internal/console"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/gate"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
	"github.com/vigil-project/vigil/internal/osprio"
	"github.com/vigil-project/vigil/internal/processor"
	"github.com/vigil-project/vigil/internal/pseudo"
	"github.com/vigil-project/vigil/internal/rules"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/postgres"
	"github.com/vigil-project/vigil/internal/store/sqlite"
)

// serveOptions configure a server.
type serveOptions struct {
	Listen string // host:port
	// GateListen, when set, is a second listener that serves POST /v1/gate
	// alone, on threads with blocking I/O (internal/api/threadhttp).
	GateListen   string
	GateSlice    time.Duration // its threads' time slice (osprio.Urgent); 0: the kernel's
	GateConns    int           // its bound of open connections, a thread each
	DataDir      string        // SQLite store directory
	Postgres     string        // DSN: use PostgreSQL instead of SQLite
	ConfigPath   string
	InsecureHTTP bool // allow plain HTTP on a non-loopback address
	TLSCert      string
	TLSKey       string
	TLSSelf      bool // a self-signed certificate kept in the data directory
	// TLSClientCA verifies client certificates; IngestClientCert makes
	// POST /v1/events require one (mutual TLS for producers).
	TLSClientCA      string
	IngestClientCert bool
	Logger           *slog.Logger
	// KeyOut receives the first admin key, shown once.
	KeyOut io.Writer
	// Synchronous is the SQLite store's durability setting ("" is full).
	Synchronous string
	// TimelineBatch and TimelineDelay pace the store's timeline indexing
	// (0: its defaults).
	TimelineBatch int
	TimelineDelay time.Duration
	// RetentionEvery is how often retention runs (default hourly).
	RetentionEvery time.Duration
	// Ready, when set, receives the server's base URL once it listens.
	Ready func(base string, srv *server)
}

// server is a running vigil serve.
type server struct {
	store  store.Store
	proc   *processor.Processor
	auth   *api.Auth
	api    *api.Server
	ingest *httpingest.Handler
	gate   string // the gate listener's base URL (--gate-listen); "": none
}

const defaultListen = "127.0.0.1:8470" // not a port of the services vigil talks to

func runServe(ctx context.Context, args []string, s stdio) error {
	fs := newFlags("serve",
		"Runs vigil as a service: HTTP ingest (POST /v1/events), the durable store, detection on every event and\n"+
			"the REST API under /v1. The first start creates an admin API key and prints it once.\n\n"+
			"Example: vigil serve --data-dir /var/lib/vigil --config vigil.yaml", s.err)
	o := serveOptions{}
	fs.StringVar(&o.Listen, "listen", defaultListen, "address to listen on")
	fs.StringVar(&o.GateListen, "gate-listen", "", "also serve POST /v1/gate alone on this address, each connection on a thread of its own woken by the kernel: the gate's latency beside heavy ingest (docs/gate.md)")
	fs.DurationVar(&o.GateSlice, "gate-slice", 100*time.Microsecond, "--gate-listen: the time slice its threads ask the kernel for (Linux 6.6 and later; 100µs–100ms, 0: the kernel's default); a shorter slice than the other threads' wakes them first")
	fs.IntVar(&o.GateConns, "gate-max-conns", 64, "--gate-listen: open connections at most (1–4096; 0: 64), a thread each; beyond, the one waiting longest for a request is closed for the new one, or, when every one is answering, the new one is answered 503")
	fs.StringVar(&o.DataDir, "data-dir", "vigil-data", "directory of the embedded SQLite store")
	fs.StringVar(&o.Postgres, "postgres", "", "PostgreSQL DSN: use it as the store instead of SQLite (also $VIGIL_POSTGRES)")
	fs.StringVar(&o.ConfigPath, "config", "", "configuration file (YAML, strict); see docs/configuration.md")
	fs.BoolVar(&o.InsecureHTTP, "insecure-http", false, "allow plain HTTP on a non-loopback address (logs a warning)")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
	fs.StringVar(&o.TLSKey, "tls-key", "", "the certificate's private key (PEM)")
	fs.BoolVar(&o.TLSSelf, "tls-self-signed", false, "serve HTTPS with a self-signed certificate made on the first start in the data directory")
	fs.StringVar(&o.TLSClientCA, "tls-client-ca", "", "verify client certificates against this CA bundle (PEM; needs HTTPS)")
	fs.BoolVar(&o.IngestClientCert, "ingest-client-cert", false, "POST /v1/events also needs a client certificate verified by --tls-client-ca (mutual TLS)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for performance work)")
	traceOut := fs.String("trace", "", "write a Go execution trace of the whole run to this file (for latency work: go tool trace)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.Postgres == "" {
		o.Postgres = os.Getenv("VIGIL_POSTGRES")
	}
	o.Logger = slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o.KeyOut = s.err
	endProfile, err := recordTo(*cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile)
	if err != nil {
		return err
	}
	defer endProfile()
	endTrace, err := recordTo(*traceOut, trace.Start, trace.Stop)
	if err != nil {
		return err
	}
	defer endTrace()
	if os.Getenv("GOGC") == "" {
		// Ingest allocates per event; twice the live heap between
		// collections costs about a tenth more memory and saves about a
		// tenth of the CPU (docs/performance.md). GOGC overrides it.
		debug.SetGCPercent(200)
	}
	return serve(ctx, o)
}

// serve runs until ctx ends, then shuts down in order: stop taking requests,
// let detection finish what was stored, store the last alerts, close the
// store.
func serve(ctx context.Context, o serveOptions) error {
	log := o.Logger
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	host, _, _ := net.SplitHostPort(o.Listen)
	tlsCfg, err := tlsConfig(o.TLSCert, o.TLSKey, o.TLSSelf, o.DataDir, []string{host})
	if err != nil {
		return err
	}
	if err := withClientCAs(tlsCfg, o.TLSClientCA); err != nil {
		return err
	}
	if o.IngestClientCert && o.TLSClientCA == "" {
		return errors.New("--ingest-client-cert needs --tls-client-ca: the CA that issues the producers' certificates")
	}
	if err := checkListen(o.Listen, o.InsecureHTTP || tlsCfg != nil, tlsCfg != nil, log); err != nil {
		return err
	}
	if o.GateSlice < 0 || o.GateSlice > 0 && (o.GateSlice < 100*time.Microsecond || o.GateSlice > 100*time.Millisecond) {
		return fmt.Errorf("--gate-slice %v: 0 (the kernel's) or from 100µs to 100ms", o.GateSlice)
	}
	if o.GateConns == 0 {
		o.GateConns = 64 // as the flag's default, for callers that build serveOptions
	}
	if o.GateConns < 1 || o.GateConns > 4096 {
		return fmt.Errorf("--gate-max-conns %d: from 1 to 4096", o.GateConns)
	}
	if o.GateListen != "" {
		if !blockio.Supported {
			return fmt.Errorf("--gate-listen: %w", blockio.ErrUnsupported)
		}
		if err := checkListen(o.GateListen, o.InsecureHTTP || tlsCfg != nil, tlsCfg != nil, log); err != nil {
			return fmt.Errorf("--gate-listen: %w", err)
		}
	}
	var cfg *config.Config
	if o.ConfigPath != "" {
		c, err := config.Load(o.ConfigPath)
		if err != nil {
			return err
		}
		cfg = c
	}
	ref, err := loadReference(cfg)
	if err != nil {
		return err
	}
	// Pseudonymisation (docs/privacy.md): the reference data names people
	// the way the pseudonymised events will.
	privOpts, err := privacyOptions(cfg, ref, log)
	if err != nil {
		return err
	}
	if ref, err = privacyReference(ref, privOpts); err != nil {
		return err
	}
	srcs, err := ruleSourcesFor(cfg, "", false)
	if err != nil {
		return err
	}
	ds, err := newDetectorSet(cfg, ref, srcs, log)
	if err != nil {
		return err
	}
	dets := ds.all
	if cfg != nil {
		o.Synchronous = cfg.Store.Synchronous
		o.TimelineBatch, o.TimelineDelay = cfg.Store.TimelineBatch, cfg.Store.TimelineDelay
	}
	shards := prioritiseRequests(cfg, o.GateListen != "", log)
	st, err := openStore(ctx, o)
	if err != nil {
		return err
	}
	defer st.Close()

	auth := api.NewAuth(st)
	if cfg != nil {
		if err := auth.Configure(cfg.Auth); err != nil {
			return err
		}
	}
	// Sign-in with an OpenID provider (docs/auth.md): the provider is
	// asked at the first sign-in, so vigil starts while it is away.
	rp, err := oidcRelyingParty(cfg, log, nil)
	if err != nil {
		return err
	}
	auth.ConfigureOIDC(rp)
	if key, err := auth.Bootstrap(ctx); err != nil {
		return fmt.Errorf("creating the first admin key: %w", err)
	} else if key != "" {
		fmt.Fprintf(o.KeyOut, "\nvigil: first start: an admin API key was created. It is shown this once and stored only as a hash:\n\n    %s\n\n"+
			"Use it as: Authorization: Bearer %s\n\n", key, key)
	}

	var gcfg gate.Config
	if cfg != nil {
		gcfg = cfg.Gate
	}
	var proc *processor.Processor // made below: the gate's observer must be one of its detectors
	gt, err := gate.New(gate.Options{Config: gcfg, Directory: ref.Directory, Incidents: st, DataDir: o.DataDir, Logger: log,
		Ready:       func() bool { return proc != nil && proc.Ready() },
		AllowTenant: func(r *http.Request, tenant string) bool { return api.MayGate(r, tenant) }})
	if err != nil {
		return err
	}
	// The gate keeps its own copy of what detection knows (moving, links,
	// recent changes), updated by its observer, the last detector.
	dets = append(dets, gt.Observer())

	latency, requests := api.StoreLatency(), api.RequestLatency()
	eo := engineOptions(cfg)
	if eo.Shards == 0 {
		eo.Shards = shards
	}
	eo.Detectors = dets
	eo.Logger = log
	eo.WallClock = true // the processor stamps arrivals with the wall clock
	// Detectors in shadow mode store alerts without raising them.
	eo.Filter = ds.modes.Apply
	// Sinks follow the stored alerts (docs/sinks.md): a crash loses none.
	// Their cursors are read before detection starts: a new sink gets
	// every alert stored from now on.
	sinks, err := newSinks(cfg, st, log)
	if err != nil {
		return err
	}
	if err := sinks.Prime(ctx); err != nil {
		sinks.Close()
		return err
	}

	// New alerts go to the live streams, GET /v1/alerts/stream.
	feed := live.New(live.Options{})
	po := processor.Options{Store: timedStore{st, latency}, Engine: eo, Logger: log,
		// Erasures of data subjects reach detection (docs/privacy.md).
		Erasures: erasureLog{pseudo.ErasureLog{Store: st}},
		// ... and the gate's decision log files.
		ForgetRecords: gt.EraseLog,
		// New alerts go to live streams and, when critical, to the gate at once.
		// The sinks read them from the store: this only wakes them.
		OnAlert: func(a store.Alert) {
			if !a.Shadow {
				feed.Publish(a)
				gt.AlertStored(a)
			}
			sinks.Wake()
		}}
	if cfg != nil {
		po.Manager.Suppressions = cfg.Suppressions
		po.SnapshotInterval = cfg.Engine.SnapshotInterval
	}
	proc, err = processor.New(po)
	if err != nil {
		return err
	}
	// Every source stores through ingestSink: with privacy on, it
	// pseudonymises before the processor stores.
	priv, err := newPseudonymiser(cfg, privOpts, st, log)
	if err != nil {
		return err
	}
	var ingestSink httpingest.Sink = proc
	if priv != nil {
		ingestSink = pseudo.NewSink(priv, proc)
	}
	ingest := httpingest.New(httpingest.Options{Sink: ingestSink,
		// Sized by cores, not processors: prioritiseRequests raised those.
		// Memory is bounded by the bodies' bytes (MaxInFlightBytes).
		MaxInFlight: 16 * startProcs,
		AllowTenant: func(r *http.Request, tenant string) bool { return api.MayIngest(r, tenant) }})
	// Broker sources (MQTT, NATS, Kafka) store through the same sink.
	brokers, err := newSources(cfg, ingestSink, log)
	if err != nil {
		return err
	}
	certGuard := newClientCertGuard()
	var ingestH http.Handler = ingest
	if o.IngestClientCert {
		ingestH = certGuard.wrap(ingest)
	}
	collectors := []prometheus.Collector{gt.Collector(), certGuard, brokers.Collector(), sinks, auth.Collector(), priv.Collector(), proc.Collector(), requests}
	var gs *threadhttp.Server // the gate's own listener; its handler is set once the API is built
	if o.GateListen != "" {
		gs = &threadhttp.Server{TLS: tlsCfg, Log: log, Slice: o.GateSlice, MaxConns: o.GateConns}
		collectors = append(collectors, gateListenerMetrics(gs)...)
	}
	metrics := api.Metrics(api.MetricsSources{Ingest: ingest, Engine: proc.Engine(), Processor: proc, Manager: proc.Manager()}, latency, collectors...)
	ao := api.Options{Store: st, Processor: proc, Engine: proc.Engine(), Ingest: ingestH, Auth: auth, Metrics: metrics, RequestLatency: requests, Gate: gt, Live: feed, Logger: log,
		Sinks: sinks, Modes: ds.modes, Off: ds.off, Privacy: priv}
	if ds.rules != nil {
		ao.Rules = func() []rules.RuleMetrics { return ds.rules.Rules().Metrics() }
	}
	if cfg != nil && cfg.Console.TileURL != "" {
		ch, err := console.New(console.Options{TileURL: cfg.Console.TileURL, TileAttribution: cfg.Console.TileAttribution})
		if err != nil {
			return fmt.Errorf("console.tile_url: %w", err)
		}
		ao.Console = ch
	}
	srv := api.New(ao)

	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.Listen, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	hs.RegisterOnShutdown(feed.Close) // open alert streams end rather than hold the shutdown up
	base := "http://" + ln.Addr().String()
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		base = "https://" + ln.Addr().String()
	}
	var gln net.Listener
	var gbase string
	if gs != nil {
		gln, err = net.Listen("tcp", o.GateListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--gate-listen %s: %w", o.GateListen, err)
		}
		gs.Handler = srv.GateOnly()
		gbase = "http://" + gln.Addr().String()
		if tlsCfg != nil {
			gbase = "https://" + gln.Addr().String()
		}
		log.Info("vigil serving the command gate alone", "url", gbase+"/v1/gate")
	}
	log.Info("vigil serving", "url", base, "store", storeName(o), "detectors", len(dets))

	procCtx, stopProc := context.WithCancel(context.WithoutCancel(ctx))
	g, gctx := errgroup.WithContext(ctx)
	// Sinks outlive detection: they deliver the last alerts stored, within
	// their drain time; what is left stays in the store.
	sinkCtx, stopSinks := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSinks()
	g.Go(func() error { return sinks.Run(sinkCtx) })
	g.Go(func() error {
		err := proc.Run(procCtx)
		stopSinks()
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	})
	g.Go(func() error {
		if err := gt.Run(procCtx); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	})
	g.Go(func() error { return brokers.Run(gctx) })
	g.Go(func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if gs != nil {
		g.Go(func() error {
			if err := gs.Serve(gln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("--gate-listen: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down: no new requests, then detection drains")
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		// Both listeners at once: a slow client of one must not use up the
		// other's time.
		gerr := make(chan error, 1)
		go func() {
			if gs != nil {
				gerr <- gs.Shutdown(sctx)
				return
			}
			gerr <- nil
		}()
		err := errors.Join(hs.Shutdown(sctx), <-gerr)
		stopProc()
		return err
	})
	if cfg != nil {
		g.Go(func() error {
			every := o.RetentionEvery
			if every <= 0 {
				every = time.Hour
			}
			retain(gctx, st, proc, cfg.Retention, every, log)
			return nil
		})
	}
	if ds.rules != nil {
		// Rules reload when their files change; a broken file is reported
		// and the rules in force stay.
		rl := &rules.Reloader{Detector: ds.rules, Sources: srcs, Logger: log}
		if err := rl.Prime(); err != nil {
			return err
		}
		g.Go(func() error {
			if err := rl.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}
	if o.Ready != nil {
		o.Ready(base, &server{store: st, proc: proc, auth: auth, api: srv, ingest: ingest, gate: gbase})
	}
	err = g.Wait()
	stopProc()
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if ferr := auth.FlushUsed(fctx); ferr != nil {
		log.Warn("saving the keys' last-use times failed", "err", ferr)
	}
	cancel()
	log.Info("vigil stopped", "position", proc.String())
	return err
}

// oidcRelyingParty builds sign-in with the OpenID provider of auth.oidc,
// nil when there is none: it reads the client secret and TLS files and
// contacts nobody. now is the clock (nil: the wall clock).
func oidcRelyingParty(cfg *config.Config, log *slog.Logger, now func() time.Time) (*authn.RP, error) {
	if cfg == nil || cfg.Auth.OIDC == nil {
		return nil, nil
	}
	rp, err := authn.NewRP(*cfg.Auth.OIDC, clientconf.Env{Path: cfg.Path}, authn.RPOptions{Now: now, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("auth.%w", err)
	}
	return rp, nil
}

func storeName(o serveOptions) string {
	if o.Postgres != "" {
		return "postgres"
	}
	return "sqlite:" + o.DataDir
}

func openStore(ctx context.Context, o serveOptions) (store.Store, error) {
	if o.Postgres != "" {
		return openPostgres(ctx, o.Postgres, o.Logger, postgres.Options{TimelineBatch: o.TimelineBatch, TimelineDelay: o.TimelineDelay})
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	return sqlite.Open(ctx, filepath.Clean(o.DataDir), sqlite.Options{Synchronous: o.Synchronous,
		TimelineBatch: o.TimelineBatch, TimelineDelay: o.TimelineDelay})
}

// checkListen refuses plain HTTP beyond loopback unless asked for.
func checkListen(addr string, allowed, tlsOn bool, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	if loopback || tlsOn {
		return nil
	}
	if !allowed {
		return fmt.Errorf("--listen %s is not a loopback address and TLS is not configured: API keys and events would cross the network in clear. "+
			"Serve HTTPS (--tls-cert and --tls-key, or --tls-self-signed), listen on 127.0.0.1 behind a TLS proxy, or pass --insecure-http to accept the risk", addr)
	}
	log.Warn("serving plain HTTP on a non-loopback address: credentials and events cross the network in clear", "listen", addr)
	return nil
}

// gateListenerMetrics expose the gate listener's connections and what it
// refused before the gate saw it.
func gateListenerMetrics(gs *threadhttp.Server) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_gate_listener_connections",
			Help: "Connections open on the command gate's own listener (--gate-listen), a thread each."},
			func() float64 { return float64(gs.Stats().Open) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vigil_gate_listener_refused_total",
			Help: "Connections to the gate's listener answered 503 and closed: its bound of open connections was reached and every one was answering."},
			func() float64 { return float64(gs.Stats().Refused) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vigil_gate_listener_evicted_total",
			Help: "Connections to the gate's listener closed, while waiting for a request, for a new one: its bound of open connections was reached."},
			func() float64 { return float64(gs.Stats().Evicted) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vigil_gate_listener_panics_total",
			Help: "Requests on the gate's listener whose handler panicked, answered 500 (a bug; logged with its stack)."},
			func() float64 { return float64(gs.Stats().Panics) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vigil_gate_listener_malformed_total",
			Help: "Requests on the gate's listener refused before the gate saw them: unparsable, headers too large or invalid, or cut off."},
			func() float64 { return float64(gs.Stats().Malformed) }),
	}
}

// startProcs is GOMAXPROCS as the process started, before
// prioritiseRequests raised it.
var startProcs = runtime.GOMAXPROCS(0)

// prioritiseRequests lowers the operating-system priority of the bulk
// workers started after it (engine.worker_nice, internal/osprio) and
// returns the default number of detection shards: one per processor the
// process had before.
//
// Each bulk worker holds a thread of its own, so the Go scheduler needs
// more processors (GOMAXPROCS) than cores: with only as many as cores,
// the workers would hold them all and a request could run only when one
// blocks, whatever the kernel's priorities. With more, a request's
// goroutine finds a free processor at once and the kernel, seeing its
// thread at a higher priority than the workers', gives it a core first.
// GOMAXPROCS set in the environment is left alone. Setting it stops the Go
// runtime from following a change of the container's CPU limit while
// running; the limit at start counts.
//
// With the gate's own listener (gateListen) there are as many processors
// again: a listener's thread back from read(2) runs Go code only on an
// idle processor, and without one its goroutine waits in the run queue
// behind ingest's (docs/gate-latency.md).
func prioritiseRequests(cfg *config.Config, gateListen bool, log *slog.Logger) int {
	cores := startProcs
	nice := config.DefaultWorkerNice
	if cfg != nil {
		nice = cfg.Engine.Nice()
	}
	procs := cores
	if nice != 0 && osprio.Supported {
		osprio.Enable(nice)
		// A processor for each wired worker (a shard per core, five
		// others) and one per core for requests: 8 on two cores.
		procs = 2*cores + 4
	}
	if gateListen {
		procs += 2*cores + 4
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(procs)
	}
	log.Debug("processors for requests", "worker_nice", osprio.Enabled(), "gate_listener", gateListen, "gomaxprocs", runtime.GOMAXPROCS(0))
	return cores
}

func engineOptions(cfg *config.Config) engine.Options {
	if cfg == nil {
		return engine.Options{}
	}
	return engine.Options{Shards: cfg.Engine.Shards, Lateness: cfg.Engine.Lateness, DedupWindow: cfg.Engine.DedupWindow}
}

// timedStore records the latency of the processor's store calls.
type timedStore struct {
	store.Store
	h *prometheus.HistogramVec
}

func (t timedStore) observe(op string, start time.Time) {
	t.h.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (t timedStore) InsertEvents(ctx context.Context, sc store.Scope, evs []store.ArchivedEvent) ([]store.Inserted, error) {
	defer t.observe("insert_events", time.Now())
	return t.Store.InsertEvents(ctx, sc, evs)
}

func (t timedStore) ReadEvents(ctx context.Context, sc store.Scope, after int64, limit int) ([]store.ArchivedEvent, error) {
	defer t.observe("read_events", time.Now())
	return t.Store.ReadEvents(ctx, sc, after, limit)
}

func (t timedStore) UpsertAlerts(ctx context.Context, sc store.Scope, as []*alert.Alert) ([]bool, error) {
	defer t.observe("upsert_alerts", time.Now())
	return t.Store.UpsertAlerts(ctx, sc, as)
}

func (t timedStore) UpsertIncidents(ctx context.Context, sc store.Scope, incs []store.Incident) ([]bool, error) {
	defer t.observe("upsert_incidents", time.Now())
	return t.Store.UpsertIncidents(ctx, sc, incs)
}

func (t timedStore) StoreDetections(ctx context.Context, sc store.Scope, as []*alert.Alert, incs []store.Incident) ([]bool, error) {
	defer t.observe("store_detections", time.Now())
	return t.Store.StoreDetections(ctx, sc, as, incs)
}
