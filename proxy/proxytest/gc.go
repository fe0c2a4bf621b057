package proxytest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"nora/cache"
	"nora/proxy/admin"
)

// GCMarked runs a dry GC through n's admin socket, as `nora gc --dry-run`
// does, and returns how many digests hosted state told it to keep.
func (n *Nora) GCMarked(t testing.TB) int64 {
	t.Helper()
	ctx := context.Background()
	c := admin.NewClient(n.AdminSocket)
	if _, err := c.Start(ctx, "gc", true); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st, err := c.Job(ctx, "gc")
		if err != nil || st.State == admin.Failed {
			t.Fatalf("gc: %v %s", err, st.Error)
		}
		if st.State != admin.Done {
			continue
		}
		var rep cache.GCReport
		raw, _ := st.Result.(json.RawMessage)
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatalf("gc report %s: %v", raw, err)
		}
		return rep.Marked
	}
	t.Fatal("gc did not finish")
	return 0
}
