package tenant

import (
	"context"
	"io"

	"golang.org/x/time/rate"
)

// throttled reads r in chunks of at most lim's burst, waiting for each
// chunk's bytes before returning them. The waits of a tenant's fills
// queue on one limiter in turn, so its fills share the bandwidth.
type throttled struct {
	ctx context.Context
	r   io.Reader
	lim *rate.Limiter
}

func (t *throttled) Read(p []byte) (int, error) {
	if err := t.ctx.Err(); err != nil {
		return 0, err
	}
	if b := t.lim.Burst(); len(p) > b {
		p = p[:b]
	}
	n, err := t.r.Read(p)
	if n > 0 {
		if werr := t.lim.WaitN(t.ctx, n); werr != nil {
			return 0, werr
		}
	}
	return n, err
}
