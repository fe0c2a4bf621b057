package tenant

import (
	"context"
	"fmt"
	"io"

	"nora/internal/fault"
)

func (s *Set) reserve(ctx context.Context, t *Tenant, already, n int64) error {
	if t.quota == 0 {
		return nil
	}
	u, err := s.usage(ctx, t)
	if err != nil {
		return nil // see Reserve
	}
	if u.Bytes+already+n > t.quota {
		return t.overQuota(u.Bytes, already+n)
	}
	return nil
}

func (s *Set) limit(ctx context.Context, t *Tenant, already int64, r io.Reader) io.Reader {
	if t.quota == 0 {
		return r
	}
	u, err := s.usage(ctx, t)
	if err != nil {
		return r // see Limit
	}
	return &quotaReader{r: r, t: t, used: u.Bytes, already: already, room: t.quota - u.Bytes - already}
}

// overQuota is the refusal of an upload that would bring t from used to
// used+adds bytes, counted once.
func (t *Tenant) overQuota(used, adds int64) error {
	t.count(kindPush, resultOverQuota)
	return fault.Newf(fault.Denied, "tenant %s is over its storage quota of %s (uses %s, this upload adds %s)",
		t.name, humanSize(t.quota), humanSize(used), humanSize(adds))
}

// quotaReader reads r until one byte more than room would be read, and
// then fails, having read that byte at most beyond the room.
type quotaReader struct {
	r             io.Reader
	t             *Tenant
	used, already int64
	room          int64 // bytes that may still be read
	read          int64
	err           error
}

func (q *quotaReader) Read(p []byte) (int, error) {
	if q.err != nil {
		return 0, q.err
	}
	if q.room < 0 {
		q.err = q.t.overQuota(q.used, q.already)
		return 0, q.err
	}
	if int64(len(p)) > q.room+1 {
		// One byte past the room tells an upload that ends at the
		// quota from one that passes it.
		p = p[:q.room+1]
	}
	n, err := q.r.Read(p)
	q.read += int64(n)
	if int64(n) > q.room {
		fit := int(q.room)
		q.room = 0
		q.err = q.t.overQuota(q.used, q.already+q.read)
		return fit, q.err
	}
	q.room -= int64(n)
	return n, err
}

// humanSize writes n bytes in decimal units, as quotas are written:
// "512 B", "49.9 GB".
func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), -1
	for ; f >= unit && i < 5; i++ {
		f /= unit
	}
	return fmt.Sprintf("%.1f %cB", f, "KMGTPE"[i])
}
