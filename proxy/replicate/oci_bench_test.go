package replicate_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/proxy/replicate"
)

// BenchmarkOCIReplicateVsCrane copies a 100 MB image (4 layers) from one
// nora to another on loopback, with the engine and with `crane copy`,
// each into a fresh nora, and reports both rates and their
// ratio (replicate / crane).
func BenchmarkOCIReplicateVsCrane(b *testing.B) {
	const layer, layers = 25 << 20, 4
	p := startOCIPair(b)
	img, err := random.Image(layer, layers)
	if err != nil {
		b.Fatal(err)
	}
	r, _ := name.NewRepository(p.edge.Addr+"/prod/big", name.Insecure)
	if err := remote.Write(r.Tag("v1"), img, remote.WithAuth(&authn.Basic{Username: "ci", Password: p.edgeTok})); err != nil {
		b.Fatal(err)
	}
	cfg := b.TempDir()
	crane := func(args ...string) {
		cmd := exec.Command("crane", args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfg)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("crane %v: %v\n%s", args, err, out)
		}
	}
	crane("auth", "login", p.edge.Addr, "-u", "ci", "-p", p.edgeTok)
	src, _ := p.endpoints(p.hubTok)
	var engine, cr time.Duration
	b.ResetTimer()
	for range b.N {
		// Fresh hubs: a nora answers for a blob it holds in any repository.
		b.StopTimer()
		hub, tk := proxytest.StartTokens(b, proxy.AppConfig{Docker: docker.DefaultConfig()})
		dst := replicate.Endpoint{Name: "hub", URL: hub.URL, Token: tk.Create(b, "r", "push:**")}
		hub2, tk2 := proxytest.StartTokens(b, proxy.AppConfig{Docker: docker.DefaultConfig()})
		crane("auth", "login", hub2.Addr, "-u", "ci", "-p", tk2.Create(b, "c", "push:**"))
		b.StartTimer()
		start := time.Now()
		rp, err := replicate.Run(context.Background(), replicate.Options{Source: src, Target: dst, Match: []string{"prod/big:v1"},
			Movers: []replicate.Mover{replicate.OCI{}}})
		if err != nil || rp.Copied != 1 || rp.Bytes < layer*layers {
			b.Fatalf("run: %+v, %v", rp, err)
		}
		engine += time.Since(start)
		start = time.Now()
		crane("copy", "--insecure", p.edge.Addr+"/prod/big:v1", hub2.Addr+"/prod/big:v1")
		cr += time.Since(start)
	}
	mb := float64(layer*layers) / (1 << 20) * float64(b.N)
	b.ReportMetric(mb/engine.Seconds(), "replicate_MB/s")
	b.ReportMetric(mb/cr.Seconds(), "crane_MB/s")
	b.ReportMetric(cr.Seconds()/engine.Seconds(), "ratio")
}
