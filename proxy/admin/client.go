package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Client talks to the admin API of a running nora over its socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client of the server on socket.
func NewClient(socket string) *Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &Client{
		socket: socket,
		http: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, "unix", socket)
			},
		}},
	}
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
	req, err := http.NewRequestWithContext(ctx, method, "http://nora"+path, rd)
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
