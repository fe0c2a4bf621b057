package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Retry bounds, about what pip does (docker and npm wait longer): ten
// attempts with doubling backoff, about 10 s in all, Retry-After
// honoured up to a cap. They cover a restart of nora.
const (
	attempts      = 10
	firstBackoff  = 100 * time.Millisecond
	maxBackoff    = 2 * time.Second
	maxRetryAfter = 5 * time.Second
)

// retriable are the statuses a real client retries: the server asks for
// patience. 500 is not among them: a correct nora never answers it.
func retriable(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// counters are the wire totals of every client.
type counters struct {
	requests atomic.Int64 // HTTP attempts
	retries  atomic.Int64
	bytes    atomic.Int64 // response body bytes the clients read

	mu  sync.Mutex
	why map[string]int64 // retries by cause: a status, or "connection"
}

func (n *counters) retried(why string) {
	n.retries.Add(1)
	n.mu.Lock()
	if n.why == nil {
		n.why = map[string]int64{}
	}
	n.why[why]++
	n.mu.Unlock()
}

// causes lists the retries by cause, the most frequent first.
func (n *counters) causes() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for k, v := range n.why {
		out = append(out, fmt.Sprintf("%s x%d", k, v))
	}
	sort.Slice(out, func(i, j int) bool { return n.why[strings.Fields(out[i])[0]] > n.why[strings.Fields(out[j])[0]] })
	return strings.Join(out, ", ")
}

// retrier is the clients' transport: it retries connection errors and
// retriable statuses of requests it can replay, and counts what it reads.
type retrier struct {
	next http.RoundTripper
	n    *counters
}

func (r *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	for i := 0; ; i++ {
		attempt := req
		if i > 0 {
			attempt = req.Clone(req.Context())
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				attempt.Body = body
			}
		}
		r.n.requests.Add(1)
		resp, err := r.next.RoundTrip(attempt)
		again := (err != nil && transient(err)) || (err == nil && retriable(resp.StatusCode))
		replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
		if !again || !replayable || i == attempts-1 || req.Context().Err() != nil {
			if resp != nil {
				resp.Body = &countingBody{ReadCloser: resp.Body, n: &r.n.bytes}
			}
			return resp, err
		}
		wait, why := backoff(i), "connection"
		if resp != nil {
			why = strconv.Itoa(resp.StatusCode)
			if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && ra >= 0 {
				wait = min(time.Duration(ra)*time.Second, maxRetryAfter)
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		r.n.retried(why)
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// CloseIdleConnections lets http.Client.CloseIdleConnections through.
func (r *retrier) CloseIdleConnections() {
	if c, ok := r.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func backoff(i int) time.Duration {
	d := min(firstBackoff<<i, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// errWrongBytes marks content that does not match its digest, checksum or
// integrity: never retried, always an error.
var errWrongBytes = errors.New("wrong bytes")

// statusError is an answer the operation did not expect.
type statusError struct {
	method, path string
	status       int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.status, e.body)
}

// status is the HTTP status an error carries, 0 for none.
func status(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

// transient reports whether a real client would try again after err: the
// connection failed or broke (a restarting server), or the server asked
// for patience. Wrong bytes and other statuses are final.
func transient(err error) bool {
	switch {
	case err == nil, errors.Is(err, errWrongBytes), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case uploadLost(err), invalidToken(err), strings.Contains(err.Error(), "server closed idle connection"):
		return true
	case status(err) != 0:
		return retriable(status(err))
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || isNetError(err)
}

// isNetError reports a failure below HTTP: a dial, a read or write on the
// connection, or a connection the server closed (the client's
// "server closed idle connection").
func isNetError(err error) bool {
	var op *net.OpError
	var ue *url.Error
	return errors.As(err, &op) || errors.As(err, &ue)
}

// uploadLost reports an upload session that a restarted registry no
// longer knows: docker starts the layer's upload again.
func uploadLost(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	for _, d := range te.Errors {
		if d.Code == transport.BlobUploadUnknownErrorCode {
			return true
		}
	}
	return false
}

// invalidToken reports a registry token nora no longer accepts: one it
// issued before a restart (the signing key of a disk store lives in
// memory). The client fetches a new one, as containerd does on such a 401.
func invalidToken(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusUnauthorized {
		return false
	}
	for _, d := range te.Errors {
		if strings.Contains(d.Message, "invalid token") {
			return true
		}
	}
	return false
}
