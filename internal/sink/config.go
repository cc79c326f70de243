package sink

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/clientconf"
	"github.com/vigil-project/vigil/internal/event"
)

// The sink types.
const (
	TypeWebhook = "webhook"
	TypeSyslog  = "syslog"
	TypeNATS    = "nats"
	TypeMQTT    = "mqtt"
	TypeKafka   = "kafka"
)

// Types lists every sink type.
func Types() []string { return []string{TypeWebhook, TypeSyslog, TypeNATS, TypeMQTT, TypeKafka} }

// Config is one entry of the configuration's `sinks:` list. Fields apply
// to some types only; a field set for a type that does not use it is an
// error, so a typo cannot be ignored. Secrets never appear inline: they are
// read from a file or an environment variable when the sink is built.
type Config struct {
	Name string `yaml:"name"` // unique; the metrics' sink label
	Type string `yaml:"type"` // webhook, syslog, nats, mqtt or kafka

	URL      string   `yaml:"url"`      // webhook (https), nats (nats:// or tls://, comma-separated), mqtt (mqtt:// or mqtts://)
	Address  string   `yaml:"address"`  // syslog: host:port
	Protocol string   `yaml:"protocol"` // syslog: tcp, tls or udp
	Brokers  []string `yaml:"brokers"`  // kafka: host:port seeds
	Subject  string   `yaml:"subject"`  // nats: subject template
	Topic    string   `yaml:"topic"`    // mqtt, kafka: topic template

	Headers    map[string]string `yaml:"headers"`     // webhook: extra request headers (not secrets)
	SecretFile string            `yaml:"secret_file"` // webhook: HMAC key of X-Vigil-Signature
	SecretEnv  string            `yaml:"secret_env"`

	Username        string `yaml:"username"`         // nats, mqtt, kafka (SASL)
	PasswordFile    string `yaml:"password_file"`    // nats, mqtt, kafka
	PasswordEnv     string `yaml:"password_env"`     // nats, mqtt, kafka
	CredentialsFile string `yaml:"credentials_file"` // nats: a .creds file (JWT and NKey)
	SASL            string `yaml:"sasl"`             // kafka: plain, scram-sha-256 or scram-sha-512
	ClientID        string `yaml:"client_id"`        // mqtt, kafka

	Facility string `yaml:"facility"` // syslog: default local0
	AppName  string `yaml:"app_name"` // syslog: default vigil
	Hostname string `yaml:"hostname"` // syslog: default the machine's name

	TLS    TLS    `yaml:"tls"`
	Filter Filter `yaml:"filter"`

	Timeout    time.Duration `yaml:"timeout"`     // one delivery attempt; default 10s
	Retries    *int          `yaml:"retries"`     // attempts after the first; default 5
	Backoff    time.Duration `yaml:"backoff"`     // first wait between attempts, doubling; default 1s
	MaxBackoff time.Duration `yaml:"max_backoff"` // longest wait, Retry-After included; default 60s

	Line int `yaml:"-"` // where the entry starts in the file
}

// TLS configures the client side of a TLS connection.
type TLS = clientconf.TLS

// Filter says which alerts a sink receives. Zero fields admit everything
// but shadow alerts.
type Filter struct {
	Tenants       []string `yaml:"tenants"`
	MinSeverity   string   `yaml:"min_severity"`
	Categories    []string `yaml:"categories"`
	IncludeShadow bool     `yaml:"include_shadow"`

	minSev event.Severity
	cats   uint32 // bit c for category c; 0: all
}

// Admits reports whether the filter lets a through.
func (f *Filter) Admits(a *alert.Alert) bool {
	if a.Shadow && !f.IncludeShadow {
		return false
	}
	if a.Severity < f.minSev {
		return false
	}
	if f.cats != 0 && (a.Category >= 32 || f.cats&(1<<a.Category) == 0) {
		return false
	}
	return len(f.Tenants) == 0 || slices.Contains(f.Tenants, a.Tenant)
}

// Limits on what the configuration may ask for.
const (
	MaxRetries = 100
	maxTimeout = 5 * time.Minute
	maxBackoff = time.Hour
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// UnmarshalYAML decodes one entry strictly: an unknown key is an error
// naming its line.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Value == "queue_size" {
				return fmt.Errorf("line %d: queue_size is no longer a key of a sink: alerts wait in the store, not in a queue (docs/sinks.md); remove the line", k.Line)
			}
		}
	}
	if err := clientconf.KnownKeys(n, reflect.TypeFor[Config](), "sink"); err != nil {
		return err
	}
	type plain Config
	if err := n.Decode((*plain)(c)); err != nil {
		return err
	}
	c.Line = n.Line
	return nil
}

// UnmarshalYAML decodes the filter section strictly.
func (f *Filter) UnmarshalYAML(n *yaml.Node) error {
	if err := clientconf.KnownKeys(n, reflect.TypeFor[Filter](), "sink filter"); err != nil {
		return err
	}
	type plain Filter
	return n.Decode((*plain)(f))
}

// Validate checks a list of sinks: each entry, and that names are unique.
// Errors name the entry and its line.
func Validate(list []Config) error {
	seen := map[string]int{}
	for i := range list {
		c := &list[i]
		if err := c.Validate(); err != nil {
			return fmt.Errorf("sinks[%d] (line %d): %w", i, c.Line, err)
		}
		if j, dup := seen[c.Name]; dup {
			return fmt.Errorf("sinks[%d] (line %d): name %q is already used by sinks[%d]", i, c.Line, c.Name, j)
		}
		seen[c.Name] = i
	}
	return nil
}

// Validate checks one entry and fills in its defaults.
func (c *Config) Validate() error {
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("name %q: want 1 to 63 of a-z 0-9 _ -, starting with a letter or digit", c.Name)
	}
	var uses []string // the type-specific keys this type takes
	switch c.Type {
	case TypeWebhook:
		uses = []string{"url", "headers", "secret_file", "secret_env", "tls"}
		if err := c.checkWebhook(); err != nil {
			return err
		}
	case TypeSyslog:
		uses = []string{"address", "protocol", "facility", "app_name", "hostname", "tls"}
		if err := c.checkSyslog(); err != nil {
			return err
		}
	case TypeNATS:
		uses = []string{"url", "subject", "username", "password_file", "password_env", "credentials_file", "tls"}
		if err := c.checkNATS(); err != nil {
			return err
		}
	case TypeMQTT:
		uses = []string{"url", "topic", "username", "password_file", "password_env", "client_id", "tls"}
		if err := c.checkMQTT(); err != nil {
			return err
		}
	case TypeKafka:
		uses = []string{"brokers", "topic", "username", "password_file", "password_env", "sasl", "client_id", "tls"}
		if err := c.checkKafka(); err != nil {
			return err
		}
	case "":
		return fmt.Errorf("type is required: one of %s", strings.Join(Types(), ", "))
	default:
		return fmt.Errorf("type %q is not one of %s", c.Type, strings.Join(Types(), ", "))
	}
	for key, set := range c.specific() {
		if set && !slices.Contains(uses, key) {
			return fmt.Errorf("%s does not apply to a %s sink", key, c.Type)
		}
	}
	if (c.SecretFile != "") && (c.SecretEnv != "") {
		return errors.New("secret_file and secret_env: name one of them")
	}
	if c.PasswordFile != "" && c.PasswordEnv != "" {
		return errors.New("password_file and password_env: name one of them")
	}
	if c.Username == "" && (c.PasswordFile != "" || c.PasswordEnv != "") {
		return errors.New("a password needs a username")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("tls: cert_file and key_file go together")
	}
	if err := c.Filter.compile(); err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	return c.delivery()
}

// specific reports which type-specific keys are set.
func (c *Config) specific() map[string]bool {
	return map[string]bool{
		"url": c.URL != "", "address": c.Address != "", "protocol": c.Protocol != "", "brokers": len(c.Brokers) > 0,
		"subject": c.Subject != "", "topic": c.Topic != "", "headers": len(c.Headers) > 0,
		"secret_file": c.SecretFile != "", "secret_env": c.SecretEnv != "", "username": c.Username != "",
		"password_file": c.PasswordFile != "", "password_env": c.PasswordEnv != "", "credentials_file": c.CredentialsFile != "",
		"sasl": c.SASL != "", "client_id": c.ClientID != "", "facility": c.Facility != "", "app_name": c.AppName != "",
		"hostname": c.Hostname != "", "tls": !c.TLS.IsZero(),
	}
}

func (c *Config) delivery() error {
	switch {
	case c.Timeout == 0:
		c.Timeout = 10 * time.Second
	case c.Timeout < 0 || c.Timeout > maxTimeout:
		return fmt.Errorf("timeout must be between 0 (10s) and %v, got %v", maxTimeout, c.Timeout)
	}
	if c.Retries == nil {
		n := 5
		c.Retries = &n
	} else if *c.Retries < 0 || *c.Retries > MaxRetries {
		return fmt.Errorf("retries must be between 0 and %d, got %d", MaxRetries, *c.Retries)
	}
	switch {
	case c.Backoff == 0:
		c.Backoff = time.Second
	case c.Backoff < 0 || c.Backoff > maxBackoff:
		return fmt.Errorf("backoff must be between 0 (1s) and %v, got %v", maxBackoff, c.Backoff)
	}
	switch {
	case c.MaxBackoff == 0:
		c.MaxBackoff = max(time.Minute, c.Backoff)
	case c.MaxBackoff < c.Backoff || c.MaxBackoff > maxBackoff:
		return fmt.Errorf("max_backoff must be between backoff (%v) and %v, got %v", c.Backoff, maxBackoff, c.MaxBackoff)
	}
	return nil
}

func (f *Filter) compile() error {
	for _, t := range f.Tenants {
		if t == "" {
			return errors.New("tenants: a tenant name must not be empty")
		}
	}
	if f.MinSeverity != "" {
		s, ok := event.ParseSeverity(f.MinSeverity)
		if !ok {
			return fmt.Errorf("min_severity %q is not low, medium, high or critical", f.MinSeverity)
		}
		f.minSev = s
	}
	f.cats = 0
	for _, name := range f.Categories {
		cat, ok := alert.ParseCategory(name)
		if !ok || cat >= 32 {
			return fmt.Errorf("categories: %q is not a category of the alert contract", name)
		}
		f.cats |= 1 << cat
	}
	return nil
}

// sensitiveHeaders carry credentials: they belong in a file, not in YAML,
// and the signature already authenticates vigil to the receiver.
var sensitiveHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie"}

// reservedHeaders are set by the webhook itself.
var reservedHeaders = []string{"Host", "Content-Type", "Content-Length", "Transfer-Encoding", "Connection", "User-Agent"}

var headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")

func (c *Config) checkWebhook() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("url is required: the https:// address to POST alerts to")
	case err != nil:
		return fmt.Errorf("url: %w", err)
	case u.Scheme != "https":
		return fmt.Errorf("url %q: want an https:// URL (alerts name vehicles and accounts: they never cross the network in clear)", Redact(c.URL))
	case u.Host == "":
		return fmt.Errorf("url %q has no host", Redact(c.URL))
	case u.User != nil:
		return fmt.Errorf("url %q: credentials in the URL would be shown and logged; the signature authenticates vigil", Redact(c.URL))
	}
	if c.SecretFile == "" && c.SecretEnv == "" {
		return errors.New("secret_file or secret_env is required: every request is signed (X-Vigil-Signature) so the receiver can tell it comes from vigil")
	}
	for k, v := range c.Headers {
		switch {
		case !headerNameRE.MatchString(k):
			return fmt.Errorf("headers: %q is not a valid header name", k)
		case strings.ContainsAny(v, "\r\n\x00"):
			return fmt.Errorf("headers: the value of %s holds a line break or NUL", k)
		case strings.HasPrefix(strings.ToLower(k), "x-vigil-"):
			return fmt.Errorf("headers: %s: X-Vigil-* headers are set by vigil", k)
		}
		for _, h := range sensitiveHeaders {
			if strings.EqualFold(k, h) {
				return fmt.Errorf("headers: %s would put a credential in the configuration file; the X-Vigil-Signature authenticates vigil", k)
			}
		}
		for _, h := range reservedHeaders {
			if strings.EqualFold(k, h) {
				return fmt.Errorf("headers: %s is set by vigil", k)
			}
		}
	}
	return nil
}

var facilities = map[string]int{"kern": 0, "user": 1, "daemon": 3, "auth": 4, "syslog": 5, "authpriv": 10, "security": 13,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23}

// FacilityCode returns the syslog facility's number (after Validate).
func (c *Config) FacilityCode() int { return facilities[c.Facility] }

func (c *Config) checkSyslog() error {
	if err := hostPort("address", c.Address); err != nil {
		return err
	}
	switch c.Protocol {
	case "":
		c.Protocol = "tls"
	case "tcp", "udp":
		if !c.TLS.IsZero() {
			return fmt.Errorf("tls options need protocol: tls, not %s", c.Protocol)
		}
	case "tls":
	default:
		return fmt.Errorf("protocol %q is not tcp, tls or udp", c.Protocol)
	}
	if c.Facility == "" {
		c.Facility = "local0"
	}
	if _, ok := facilities[c.Facility]; !ok {
		return fmt.Errorf("facility %q is not one of kern, user, daemon, auth, syslog, authpriv, security, local0…local7", c.Facility)
	}
	if c.AppName == "" {
		c.AppName = "vigil"
	}
	if !printASCII(c.AppName, 48) {
		return fmt.Errorf("app_name %q: want 1 to 48 printable ASCII characters without spaces", c.AppName)
	}
	if c.Hostname != "" && !printASCII(c.Hostname, 255) {
		return fmt.Errorf("hostname %q: want 1 to 255 printable ASCII characters without spaces", c.Hostname)
	}
	return nil
}

// printASCII reports whether s is 1 to max characters of RFC 5424's
// PRINTUSASCII (no spaces).
func printASCII(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := range len(s) {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

func hostPort(key, v string) error {
	if v == "" {
		return fmt.Errorf("%s is required: host:port", key)
	}
	h, p, err := net.SplitHostPort(v)
	if err != nil || h == "" || p == "" {
		return fmt.Errorf("%s %q: want host:port", key, v)
	}
	return nil
}

func (c *Config) checkNATS() error {
	if c.URL == "" {
		return errors.New("url is required: nats://host:4222 or tls://host:4222 (several separated by commas)")
	}
	for _, s := range strings.Split(c.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			return fmt.Errorf("url %q: want nats://host:port or tls://host:port", Redact(s))
		}
		if u.User != nil {
			return fmt.Errorf("url %q: put credentials in username and password_file, or credentials_file", Redact(s))
		}
	}
	if c.CredentialsFile != "" && c.Username != "" {
		return errors.New("credentials_file and username: name one way to authenticate")
	}
	if c.Subject == "" {
		return errors.New("subject is required, e.g. vigil.alerts.{tenant}.{category}")
	}
	return checkTemplate("subject", c.Subject, func(static string) error {
		for _, tok := range strings.Split(static, ".") {
			if strings.ContainsAny(tok, "*> \t\r\n") {
				return fmt.Errorf("wildcards and spaces have no place in a subject to publish to")
			}
		}
		if strings.HasPrefix(static, ".") || strings.HasSuffix(static, ".") || strings.Contains(static, "..") {
			return fmt.Errorf("empty subject token")
		}
		return nil
	})
}

func (c *Config) checkMQTT() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("url is required: mqtts://host:8883 (or mqtt://host:1883 on a trusted network)")
	case err != nil || (u.Scheme != "mqtt" && u.Scheme != "mqtts") || u.Host == "":
		return fmt.Errorf("url %q: want mqtt://host:port or mqtts://host:port", Redact(c.URL))
	case u.User != nil:
		return fmt.Errorf("url %q: put credentials in username and password_file", Redact(c.URL))
	case u.Scheme == "mqtt" && !c.TLS.IsZero():
		return errors.New("tls options need an mqtts:// url")
	}
	if c.Topic == "" {
		return errors.New("topic is required, e.g. vigil/alerts/{tenant}/{category}")
	}
	if c.ClientID != "" && !printASCII(c.ClientID, 128) {
		return fmt.Errorf("client_id %q: want 1 to 128 printable ASCII characters", c.ClientID)
	}
	return checkTemplate("topic", c.Topic, func(static string) error {
		if strings.ContainsAny(static, "+#\x00") {
			return errors.New("wildcards (+, #) have no place in a topic to publish to")
		}
		return nil
	})
}

var kafkaTopicRE = regexp.MustCompile(`^[A-Za-z0-9._-]*$`)

func (c *Config) checkKafka() error {
	if len(c.Brokers) == 0 {
		return errors.New("brokers is required: a list of host:port")
	}
	for i, b := range c.Brokers {
		if err := hostPort(fmt.Sprintf("brokers[%d]", i), b); err != nil {
			return err
		}
	}
	switch c.SASL {
	case "":
		if c.Username != "" {
			return errors.New("username needs sasl: plain, scram-sha-256 or scram-sha-512")
		}
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.Username == "" || (c.PasswordFile == "" && c.PasswordEnv == "") {
			return fmt.Errorf("sasl %s needs username and password_file or password_env", c.SASL)
		}
		if c.SASL == "plain" && c.TLS.IsZero() {
			return errors.New("sasl plain would send the password in clear: turn TLS on (tls: {enable: true})")
		}
	default:
		return fmt.Errorf("sasl %q is not plain, scram-sha-256 or scram-sha-512", c.SASL)
	}
	if c.ClientID != "" && !printASCII(c.ClientID, 128) {
		return fmt.Errorf("client_id %q: want 1 to 128 printable ASCII characters", c.ClientID)
	}
	if c.Topic == "" {
		return errors.New("topic is required, e.g. vigil-alerts")
	}
	return checkTemplate("topic", c.Topic, func(static string) error {
		if !kafkaTopicRE.MatchString(static) {
			return errors.New("a Kafka topic is made of A-Z a-z 0-9 . _ -")
		}
		return nil
	})
}

// Redact hides what a URL may carry that is secret: its user information
// and its query values.
func Redact(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"REDACTED"}
		}
		u.RawQuery = q.Encode()
	}
	u.Fragment = ""
	return u.String()
}

// Target describes where the sink delivers, secrets redacted.
func (c *Config) Target() string {
	switch c.Type {
	case TypeWebhook:
		return Redact(c.URL)
	case TypeSyslog:
		return c.Protocol + "://" + c.Address
	case TypeNATS:
		var urls []string
		for _, s := range strings.Split(c.URL, ",") {
			urls = append(urls, Redact(s))
		}
		return strings.Join(urls, ",") + " subject " + c.Subject
	case TypeMQTT:
		return Redact(c.URL) + " topic " + c.Topic
	case TypeKafka:
		return strings.Join(c.Brokers, ",") + " topic " + c.Topic
	}
	return ""
}
