package replicate

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Config is [replication]: the remotes a run may name, and the runs on a
// schedule.
type Config struct {
	Remotes   []Remote   `toml:"remotes"`
	Schedules []Schedule `toml:"schedules"`
}

// Remote is one [[replication.remotes]]: another nora (or a registry)
// and the API token to use there.
type Remote struct {
	Name      string `toml:"name"`
	URL       string `toml:"url"`
	Token     string `toml:"token"`
	TokenFile string `toml:"token_file"`
}

// Schedule is one [[replication.schedules]]: a Request run by cron.
type Schedule struct {
	To       string   `toml:"to"`
	From     string   `toml:"from"`
	Match    []string `toml:"match"`
	Prefix   string   `toml:"prefix"`
	Schedule string   `toml:"schedule"`
}

// Request is the run the schedule starts.
func (s Schedule) Request() Request {
	return Request{To: s.To, From: s.From, Match: s.Match, Prefix: s.Prefix}
}

// FieldError is a problem with one key.
type FieldError struct{ Key, Msg string }

// Check checks what can be checked without running (the cron schedules
// are the admin package's to check): names, URLs, tokens readable,
// schedules naming a remote. upstreams are the docker upstreams' names a
// "from" may name too.
func (c Config) Check(upstreams []string) []FieldError {
	var errs []FieldError
	bad := func(key, format string, args ...any) {
		errs = append(errs, FieldError{key, fmt.Sprintf(format, args...)})
	}
	names := map[string]bool{}
	for i, r := range c.Remotes {
		key := fmt.Sprintf("remotes[%d]", i)
		switch {
		case r.Name == "" || r.Name == "local":
			bad(key+".name", "set a name (not \"local\")")
		case names[r.Name]:
			bad(key+".name", "%q is named twice", r.Name)
		}
		names[r.Name] = true
		if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key+".url", "an http:// or https:// URL")
		}
		if r.Token != "" && r.TokenFile != "" {
			bad(key+".token_file", "set token or token_file, not both")
		}
		if _, err := r.ReadToken(); err != nil {
			bad(key+".token_file", "%v", err)
		}
	}
	from := map[string]bool{}
	for _, u := range upstreams {
		from[u] = true
	}
	for i, s := range c.Schedules {
		key := fmt.Sprintf("schedules[%d]", i)
		if err := s.Request().Check(); err != nil {
			bad(key, "%v", err)
		}
		if s.To != "" && !names[s.To] {
			bad(key+".to", "no remote %q", s.To)
		}
		if s.From != "" && !names[s.From] && !from[s.From] {
			bad(key+".from", "no remote or docker upstream %q", s.From)
		}
		if strings.TrimSpace(s.Schedule) == "" {
			bad(key+".schedule", "set a cron schedule")
		}
	}
	return errs
}

// ReadToken is the remote's token: token, or token_file's first line.
func (r Remote) ReadToken() (string, error) {
	if r.TokenFile == "" {
		return r.Token, nil
	}
	b, err := os.ReadFile(r.TokenFile)
	if err != nil {
		return "", err
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(tok), nil
}
