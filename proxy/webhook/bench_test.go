package webhook_test

import (
	"path/filepath"
	"testing"

	"nora/proxy/httpx"
	"nora/proxy/webhook"
)

// BenchmarkSend is what a push pays on its request path for its event:
// a hand-off to the writer (dropped when the buffer is full), never a
// disk write or a post.
func BenchmarkSend(b *testing.B) {
	r := newReceiver(b)
	d, _ := open(b, filepath.Join(b.TempDir(), "webhooks.db"), []webhook.Config{{URL: r.srv.URL, Secret: testSecret}}, fast())
	for _, kind := range []string{httpx.EventPush, httpx.EventFill} {
		b.Run(kind, func(b *testing.B) {
			e := event("1", kind, "docker", "team/app", "v1")
			b.ReportAllocs()
			for b.Loop() {
				d.Send(e)
			}
		})
	}
}
