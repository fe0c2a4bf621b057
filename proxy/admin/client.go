package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to the admin API of a running nora over its socket, or
// over HTTP(S) on its normal listener (NewRemoteClient).
type Client struct {
	socket string
	// base is where the API is ("http://nora" on the socket); token, if
	// set, is sent as a Bearer token.
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client of the server on socket.
func NewClient(socket string) *Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &Client{
		socket: socket,
		base:   "http://nora",
		http: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, "unix", socket)
			},
		}},
	}
}

// NewRemoteClient returns a client of the admin API that the nora at base
// (http(s)://host:port) serves on its normal listener to callers with the
// admin permission; token (an API token, or "" for none) proves it.
func NewRemoteClient(base, token string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("want the server's base URL such as https://nora.example.com, got %q", base)
	}
	return &Client{base: strings.TrimSuffix(u.String(), "/"), token: token, http: &http.Client{}}, nil
}

// Error is an error answer of the server.
type Error struct {
	Status  int
	Message string
	Detail  json.RawMessage // null if none
}

func (e *Error) Error() string { return e.Message }

// Start starts the job name (POST /api/v1/<name>). A conflicting job that
// runs is an *Error with status 409 whose Detail is that job's state.
func (c *Client) Start(ctx context.Context, name string, dryRun bool) (JobState, error) {
	return c.job(ctx, http.MethodPost, prefix+name+"?dry_run="+strconv.FormatBool(dryRun))
}

// Job returns the state of the current or last run of name; an *Error with
// status 404 if none ran. Its Result is a json.RawMessage.
func (c *Client) Job(ctx context.Context, name string) (JobState, error) {
	return c.job(ctx, http.MethodGet, prefix+name)
}

// Stats returns the storage statistics as the server sent them.
func (c *Client) Stats(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	err := c.do(ctx, http.MethodGet, prefix+"storage/stats", nil, &raw)
	return raw, err
}

func (c *Client) job(ctx context.Context, method, path string) (JobState, error) {
	// The outer Result (depth 0) takes the field from the embedded one.
	var wire struct {
		JobState
		Result json.RawMessage `json:"result"`
	}
	if err := c.do(ctx, method, path, nil, &wire); err != nil {
		return JobState{}, err
	}
	st := wire.JobState
	if wire.Result != nil {
		st.Result = wire.Result
	}
	return st, nil
}

// maxAnswer bounds an answer: a GC's result lists every removed item.
const maxAnswer = 256 << 20

// do sends body (nil: none) as JSON and decodes the answer into v (nil:
// the answer has no body).
func (c *Client) do(ctx context.Context, method, path string, body any, v any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := c.request(ctx, method, path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e apiError
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			return &Error{Status: resp.StatusCode, Message: fmt.Sprintf("admin API: %s", resp.Status)}
		}
		detail, _ := json.Marshal(e.Detail)
		return &Error{Status: resp.StatusCode, Message: e.Error, Detail: detail}
	}
	if v == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(v); err != nil {
		return fmt.Errorf("cannot decode the answer of %s %s: %w", method, path, err)
	}
	return nil
}

// request is a request of path on the server, with the token if any.
func (c *Client) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// TrustCA makes a remote client (NewRemoteClient) trust the CA
// certificates in pemCerts, the site CA of an HTTPS listener, besides the
// system's.
func (c *Client) TrustCA(pemCerts []byte) error {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemCerts) {
		return errors.New("no PEM certificate in it")
	}
	c.http = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	return nil
}

// Images returns GET /api/v1/images[?repo=R] as the server sent it.
func (c *Client) Images(ctx context.Context, repo string) (json.RawMessage, error) {
	path := prefix + "images"
	if repo != "" {
		path += "?repo=" + url.QueryEscape(repo)
	}
	return c.raw(ctx, http.MethodGet, path, nil)
}

// TagImage puts tag target ("repo:tag") on the hosted manifest source
// ("repo:tag" or "repo@digest") names (POST /api/v1/images/tag).
func (c *Client) TagImage(ctx context.Context, source, target string) (json.RawMessage, error) {
	return c.raw(ctx, http.MethodPost, prefix+"images/tag", map[string]string{"source": source, "target": target})
}

// DeleteImage removes a hosted tag ("repo:tag") or manifest
// ("repo@digest") (DELETE /api/v1/images/<ref>).
func (c *Client) DeleteImage(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, prefix+"images/"+ref, nil, nil)
}

// Packages returns GET /api/v1/packages/<format>[?name=N].
func (c *Client) Packages(ctx context.Context, format, name string) (json.RawMessage, error) {
	path := prefix + "packages/" + url.PathEscape(format)
	if name != "" {
		path += "?name=" + url.QueryEscape(name)
	}
	return c.raw(ctx, http.MethodGet, path, nil)
}

// Cached returns GET /api/v1/cache[?format=F&limit=N] (0: the server's
// default).
func (c *Client) Cached(ctx context.Context, format string, limit int) (json.RawMessage, error) {
	q := url.Values{}
	if format != "" {
		q.Set("format", format)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := prefix + "cache"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.raw(ctx, http.MethodGet, path, nil)
}

// Evict evicts the cached objects ref names (POST /api/v1/cache/evict).
func (c *Client) Evict(ctx context.Context, ref string) (json.RawMessage, error) {
	return c.raw(ctx, http.MethodPost, prefix+"cache/evict", map[string]string{"ref": ref})
}

func (c *Client) raw(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	var raw json.RawMessage
	err := c.do(ctx, method, path, body, &raw)
	return raw, err
}
