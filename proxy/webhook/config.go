// Package webhook posts signed JSON events (a push, tag, delete, publish,
// and opted in, a cold fill) to the receivers of [[webhooks]], from a queue
// in a bbolt file that survives restarts (DESIGN 3.5, the operating issue).
package webhook

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gobwas/glob"

	"nora/internal/units"
	"nora/proxy/httpx"
)

// Config is one [[webhooks]] entry.
type Config struct {
	// Name keys the webhook's queue, its metrics and its deliveries;
	// "" means "webhook-<index>".
	Name string `toml:"name"`
	// URL receives a POST per event (http or https).
	URL string `toml:"url"`
	// Events is a subset of Kinds; none means all but "fill".
	Events []string `toml:"events"`
	// Match is a glob on the event's name, "/" separating segments
	// ("team/**", "acme-*"); "" matches every name.
	Match string `toml:"match"`
	// Format is docker, npm, pypi, maven or cargo; "" means all.
	Format string `toml:"format"`
	// Secret is the HMAC-SHA256 key of X-Nora-Signature; SecretFile names
	// a file holding it instead. Neither: no signature.
	Secret     string `toml:"secret"`
	SecretFile string `toml:"secret_file"`
	// Timeout bounds each attempt; 0 means DefaultTimeout.
	Timeout units.Duration `toml:"timeout"`
}

// DefaultTimeout bounds an attempt when the entry sets no timeout.
const DefaultTimeout = 10 * time.Second

// Kinds are the events a webhook can ask for.
var Kinds = []string{httpx.EventPush, httpx.EventTag, httpx.EventDelete, httpx.EventPublish, httpx.EventFill}

// Formats are the values of format besides "".
var Formats = []string{"docker", "npm", "pypi", "maven", "cargo"}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// KeyError is a problem with one key of an entry.
type KeyError struct{ Key, Msg string }

func (e KeyError) Error() string { return e.Key + ": " + e.Msg }

// NameOf is the name of entry i: its name key, else "webhook-<i>".
func NameOf(i int, c Config) string {
	if c.Name != "" {
		return c.Name
	}
	return fmt.Sprintf("webhook-%d", i)
}

// Check reports what is wrong with the entry, by key. The secret file
// must be readable and not empty.
func (c Config) Check() []KeyError {
	var out []KeyError
	bad := func(key, format string, args ...any) {
		out = append(out, KeyError{key, fmt.Sprintf(format, args...)})
	}
	if c.Name != "" && !validName.MatchString(c.Name) {
		bad("name", "want letters, digits, '.', '_' or '-' (up to 64), got %q", c.Name)
	}
	if err := checkURL(c.URL); err != nil {
		bad("url", "%v", err)
	}
	for _, e := range c.Events {
		if !slices.Contains(Kinds, e) {
			bad("events", "unknown event %q: want some of %s", e, strings.Join(Kinds, ", "))
		}
	}
	if _, err := compileMatch(c.Match); err != nil {
		bad("match", "%v", err)
	}
	if c.Format != "" && !slices.Contains(Formats, c.Format) {
		bad("format", "want one of %s, or \"\" for all, got %q", strings.Join(Formats, ", "), c.Format)
	}
	if c.Secret != "" && c.SecretFile != "" {
		bad("secret_file", "set secret or secret_file, not both")
	} else if _, err := c.secret(); err != nil {
		bad("secret_file", "%v", err)
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative (0: %s)", DefaultTimeout)
	}
	return out
}

func checkURL(s string) error {
	if s == "" {
		return fmt.Errorf("required (where the events are posted)")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("want an http or https URL, got %q", s)
	case u.Host == "":
		return fmt.Errorf("the URL has no host: %q", s)
	}
	return nil
}

// compileMatch compiles a match glob; nil matches everything.
func compileMatch(m string) (*glob.Pattern, error) {
	if m == "" {
		return nil, nil
	}
	g, err := glob.Compile(m, '/')
	if err != nil {
		return nil, fmt.Errorf("invalid glob %q: %v", m, err)
	}
	return g, nil
}

// secret is the HMAC key: Secret, or SecretFile's content without its
// trailing line break.
func (c Config) secret() ([]byte, error) {
	if c.SecretFile == "" {
		return []byte(c.Secret), nil
	}
	b, err := os.ReadFile(c.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read the secret: %w", err)
	}
	b = []byte(strings.TrimRight(string(b), "\r\n"))
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", c.SecretFile)
	}
	return b, nil
}

// kindBit is kind's bit in a webhook's event mask; 0 if unknown.
func kindBit(kind string) uint8 {
	if i := slices.Index(Kinds, kind); i >= 0 {
		return 1 << i
	}
	return 0
}

// filter decides which events a webhook gets.
type filter struct {
	kinds  uint8
	format string
	match  *glob.Pattern
}

func newFilter(c Config) (filter, error) {
	f := filter{format: c.Format}
	events := c.Events
	if len(events) == 0 {
		events = Kinds[:len(Kinds)-1] // all but fill: opt-in
	}
	for _, e := range events {
		f.kinds |= kindBit(e)
	}
	var err error
	f.match, err = compileMatch(c.Match)
	return f, err
}

func (f filter) wants(e *httpx.Event) bool {
	return f.kinds&kindBit(e.Kind) != 0 && (f.format == "" || f.format == e.Format) &&
		(f.match == nil || f.match.Match(e.Name))
}
