package docker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"nora/auth"
	"nora/auth/authtest"
	"nora/hosted/oci"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
)

// BenchmarkPush100Layers pushes a new image of 100 small layers per
// iteration, by a writer whose push comes from a group's rule among
// others ("rules"), and by an htpasswd user without any rule ("norules",
// today's behaviour; nora has no anonymous writes to compare with). Each
// layer is a HEAD, a POST and a PUT, each authorized: issue 12 wants rules
// to cost at most 5%. Compare the two ns/op.
func BenchmarkPush100Layers(b *testing.B) {
	ruled := authtest.Config(b, "docker", "team/**", "other/**")
	for i := range 50 { // a site of some size
		ruled.Rules = append(ruled.Rules, auth.Rule{Subject: fmt.Sprintf("team%d", i), Permissions: []string{fmt.Sprintf("push:docker:team%d/**", i)}})
	}
	plain := *ruled
	plain.Groups, plain.Rules = nil, nil
	for _, c := range []struct {
		name string
		cfg  *auth.Config
	}{{"rules", ruled}, {"norules", &plain}} {
		b.Run(c.name, func(b *testing.B) {
			cfg := proxy.AppConfig{Server: proxy.DefaultConfig(), Docker: docker.DefaultConfig(), HostedOCI: &oci.Config{}, Auth: c.cfg}
			cfg.Server.StallTimeout = units.Duration(10 * time.Second)
			n := proxytest.Start(b, cfg)
			login := remote.WithAuth(&authn.Basic{Username: authtest.Writer.User, Password: authtest.Writer.Pass})
			i := 0
			for b.Loop() {
				b.StopTimer()
				img, err := random.Image(256, 100)
				if err != nil {
					b.Fatal(err)
				}
				ref, err := name.ParseReference(fmt.Sprintf("%s/team/app%d:v1", n.Addr, i), name.Insecure)
				if err != nil {
					b.Fatal(err)
				}
				i++
				b.StartTimer()
				if err := remote.Write(ref, img, login); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
