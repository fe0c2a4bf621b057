package replicate

import (
	"io"
	"net/http"
	"sync/atomic"
)

// wireCounter adds up the request body bytes sent to a target: what a run
// reports, and what tells a second run that sent nothing.
type wireCounter struct {
	n        atomic.Int64
	progress func(int64) // nil: none
}

func (c *wireCounter) add(n int) {
	if n > 0 {
		c.n.Add(int64(n))
		if c.progress != nil {
			c.progress(int64(n))
		}
	}
}

// countingTransport counts the bodies of the requests it sends.
type countingTransport struct {
	base http.RoundTripper
	c    *wireCounter
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		r := req.Clone(req.Context())
		r.Body = &countingBody{ReadCloser: req.Body, c: t.c}
		req = r
	}
	return t.base.RoundTrip(req)
}

type countingBody struct {
	io.ReadCloser
	c *wireCounter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.add(n)
	return n, err
}
