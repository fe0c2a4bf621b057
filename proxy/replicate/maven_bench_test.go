package replicate_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"strconv"
	"testing"

	"nora/proxy"
	"nora/proxy/maven"
	"nora/proxy/replicate"
)

// BenchmarkMavenCopy copies a release of a 64 MiB jar between two noras
// on loopback: with the Maven mover, and as a baseline one GET and one
// PUT of the jar alone.
func BenchmarkMavenCopy(b *testing.B) {
	jar := make([]byte, 64<<20)
	rand.Read(jar)
	p := startPkgPair(b, proxy.AppConfig{Maven: maven.DefaultConfig()})
	m := replicate.Maven()
	deploy := func(i int) (replicate.Item, string) {
		v := "1." + strconv.Itoa(i)
		dir := "/maven2/com/acme/big/" + v + "/"
		p.mavenPut(b, dir+"big-"+v+".jar", jar)
		p.mavenPut(b, dir+"big-"+v+".pom", pom("com.acme", "big", v, "jar"))
		return replicate.Item{Format: "maven", Name: "com.acme:big", Version: v}, dir + "big-" + v + ".jar"
	}
	b.Run("mover", func(b *testing.B) {
		b.SetBytes(int64(len(jar)))
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			it, _ := deploy(i)
			b.StartTimer()
			if _, err := m.Copy(context.Background(), p.src, p.dst, it, false, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get-put", func(b *testing.B) {
		b.SetBytes(int64(len(jar)))
		for i := 1000; b.Loop(); i++ {
			b.StopTimer()
			_, path := deploy(i)
			b.StartTimer()
			resp, err := http.Get(p.srcN.URL + path)
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPut, p.dstN.URL+path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+p.dst.Token)
			if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode/100 != 2 {
				b.Fatalf("PUT: %v %v", resp, err)
			}
			resp.Body.Close()
		}
	})
}
