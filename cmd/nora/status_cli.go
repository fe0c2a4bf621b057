package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"nora/cache"
	"nora/proxy/sitetls"
	noraup "nora/upstream"
)

// readyReport is the /ready body (README, "Health and metrics").
type readyReport struct {
	Status    string            `json:"status"`
	Failing   map[string]string `json:"failing"`
	CheckedAt time.Time         `json:"checked_at"`
	Storage   *cache.Stats      `json:"storage"`
	Upstreams []noraup.Status   `json:"upstreams"`
}

// maxReadyBody bounds the read of a /ready answer.
const maxReadyBody = 1 << 20

// readyFlags are the flags status and healthcheck share: where the
// running server is and how long to wait for it.
type readyFlags struct {
	config, url string
	timeout     time.Duration
}

func (f *readyFlags) add(c *cobra.Command, def time.Duration) {
	c.Flags().StringVar(&f.config, "config", "",
		"config file whose [server] listen is asked (default "+systemConfigPath+" if it exists, else the embedded default)")
	c.Flags().StringVar(&f.url, "url", "", "the server's base URL (http://host:port), instead of the config's listen address")
	c.Flags().DurationVar(&f.timeout, "timeout", def, "give up after this long")
}

// fetch asks the server's /ready.
func (f *readyFlags) fetch(ctx context.Context, env []string) (u string, code int, body []byte, err error) {
	var tc *tls.Config
	if u, tc, err = readyURL(f.config, f.url, env); err != nil {
		return "", 0, nil, err
	}
	code, body, err = fetchReady(ctx, u, tc, f.timeout)
	return u, code, body, err
}

// newStatusCmds returns status and healthcheck: clients of a running
// server's /ready, found from the config's listen address or --url.
func newStatusCmds(env []string) []*cobra.Command {
	return []*cobra.Command{newStatusCmd(env), newHealthcheckCmd(env)}
}

func newStatusCmd(env []string) *cobra.Command {
	var f readyFlags
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Print the running server's readiness, storage and upstreams",
		Long: "Print what the running server's /ready reports: whether it is ready (storage gates\n" +
			"readiness), free space, and each upstream's circuit breaker, last success, last error\n" +
			"and rate limit (informational). Exits 1 when the server is not ready or not reachable.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, code, body, err := f.fetch(cmd.Context(), env)
			if err != nil {
				return err
			}
			var r readyReport
			if err := json.Unmarshal(body, &r); err != nil {
				return fmt.Errorf("cannot read the answer of %s: %w", u, err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				var b bytes.Buffer
				if err := json.Indent(&b, body, "", "  "); err != nil {
					return err
				}
				b.WriteByte('\n')
				if _, err := out.Write(b.Bytes()); err != nil {
					return err
				}
			} else if err := printStatus(out, u, r, time.Now()); err != nil {
				return err
			}
			if code != http.StatusOK {
				return fmt.Errorf("not ready (%s)", r.Status)
			}
			return nil
		},
	}
	f.add(status, 10*time.Second)
	status.Flags().BoolVar(&asJSON, "json", false, "print the /ready answer as JSON")
	return status
}

func newHealthcheckCmd(env []string) *cobra.Command {
	var f readyFlags
	healthcheck := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the running server is ready, else 1",
		Long: "Exit 0 when the running server's /ready answers 200, else 1, printing one line.\n" +
			"For container HEALTHCHECKs and Kubernetes exec probes: it needs no shell or curl.\n" +
			"A listen address on all interfaces (0.0.0.0:4000) is dialled on the loopback, over HTTPS\n" +
			"when [server.tls] is on: trusting the site CA in auto mode, unverified in files mode\n" +
			"(the probe sends nothing but the request for /ready).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, code, body, err := f.fetch(cmd.Context(), env)
			if err != nil {
				return err
			}
			var r readyReport
			_ = json.Unmarshal(body, &r) // the status code decides; the body only explains
			if code != http.StatusOK {
				return fmt.Errorf("not ready: %d %s%s", code, r.Status, failingList(r.Failing))
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ready")
			return nil
		},
	}
	f.add(healthcheck, 3*time.Second)
	return healthcheck
}

// readyURL is base's /ready, or that of the config's listen address with
// an unspecified host (0.0.0.0, ::, none) dialled on the loopback.
func readyURL(configPath, base string, env []string) (string, *tls.Config, error) {
	if base == "" {
		cfg, source, err := loadConfig(configPath, systemConfigPath, env)
		if err != nil {
			return "", nil, err
		}
		host, port, err := net.SplitHostPort(cfg.Server.Listen)
		if err != nil {
			return "", nil, fmt.Errorf("%s: cannot use server.listen %q: %w", source, cfg.Server.Listen, err)
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		u := "http://" + net.JoinHostPort(host, port) + "/ready"
		if !cfg.Server.TLS.On() {
			return u, nil, nil
		}
		tc, err := readyTLS(cfg.Server.TLS, cfg.Storage.Path)
		return "https" + strings.TrimPrefix(u, "http"), tc, err
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", nil, fmt.Errorf("--url: want http(s)://host:port, got %q", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/ready"
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil, nil
}

// readyTLS is how status and healthcheck trust the server's own TLS
// listener: in auto mode by the site CA in the storage path (the server
// certificate names localhost and every local address); in files mode the
// certificate names the site, not the address dialled, so the probe, which
// sends nothing secret and only reads readiness, does not verify it.
func readyTLS(c sitetls.Config, storagePath string) (*tls.Config, error) {
	if c.Mode != sitetls.ModeAuto {
		return &tls.Config{InsecureSkipVerify: true}, nil
	}
	pem, err := os.ReadFile(sitetls.CAFile(storagePath))
	if err != nil {
		return nil, fmt.Errorf("cannot read the site CA to check the server: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", sitetls.CAFile(storagePath))
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// fetchReady GETs u within timeout; any status is an answer.
func fetchReady(ctx context.Context, u string, tc *tls.Config, timeout time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	// No proxy from the environment: the server is local or named outright.
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: tc}}
	resp, err := cl.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, fmt.Errorf("cannot reach nora at %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReadyBody))
	if err != nil {
		return 0, nil, fmt.Errorf("cannot read the answer of %s: %w", u, err)
	}
	return resp.StatusCode, body, nil
}

func failingList(failing map[string]string) string {
	if len(failing) == 0 {
		return ""
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(failing)) {
		parts = append(parts, name+": "+failing[name])
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// printStatus writes r for a human.
func printStatus(w io.Writer, u string, r readyReport, now time.Time) error {
	ago := func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "never"
		}
		return now.Sub(*t).Round(time.Second).String() + " ago"
	}
	checked := r.CheckedAt
	fmt.Fprintf(w, "nora at %s: %s (checked %s)\n", strings.TrimSuffix(u, "/ready"), r.Status, ago(&checked))
	storage := "ok"
	if msg, ok := r.Failing["storage"]; ok {
		storage = "FAILING: " + msg
	}
	fmt.Fprintf(w, "storage: %s\n", storage)
	if s := r.Storage; s != nil {
		if s.FreeBytes >= 0 {
			fmt.Fprintf(w, "  free %s of %s, min_free %s\n", humanSize(s.FreeBytes), humanSize(s.TotalBytes), humanSize(s.MinFree))
		}
		fmt.Fprintf(w, "  cached %s, hosted %s, %d objects\n", humanSize(s.ProxiedBytes), humanSize(s.HostedBytes), s.Objects)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Failing)) {
		if name != "storage" {
			fmt.Fprintf(w, "%s: FAILING: %s\n", name, r.Failing[name])
		}
	}
	if len(r.Upstreams) == 0 {
		_, err := fmt.Fprintln(w, "upstreams: none configured")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UPSTREAM\tBREAKER\tLAST SUCCESS\tRATE LIMIT\tLAST ERROR")
	for _, up := range r.Upstreams {
		rate := "-"
		if up.RateLimitRemaining != nil {
			rate = fmt.Sprint(*up.RateLimitRemaining)
		}
		lastErr := "-"
		if up.LastError != "" {
			lastErr = ago(up.LastErrorAt) + ": " + up.LastError
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", up.Name, up.Breaker, ago(up.LastSuccess), rate, lastErr)
	}
	return tw.Flush()
}
