package npm_test

import (
	"testing"
	"time"

	"nora/cache/s3/s3test"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// TestInstallOnS3: npm install through a nora whose store is a bucket of
// a real S3 server; the tarballs become objects there, and a second
// install with the upstream gone comes from the bucket.
func TestInstallOnS3(t *testing.T) {
	srv := s3test.Start(t)
	storage := proxytest.S3Storage(t, srv, srv.NewBucket(t))
	v := npmtest.StartVerdaccio(t)
	v.Publish(t, npmtest.WritePackage(t, "@acme/dep", "1.0.0", nil, depIndex))
	v.Publish(t, npmtest.WritePackage(t, "@acme/app-lib", "1.0.0", map[string]string{"@acme/dep": "^1.0.0"}, appIndex))
	front := npmtest.NewFront(t, v.URL)
	n := proxytest.Start(t, proxy.AppConfig{Storage: storage,
		Npm: npm.Config{Upstream: front.URL, NegativeTTL: units.Duration(time.Minute)}})

	mustInstall(t, n, "@acme/app-lib")
	for _, ref := range []string{"refs/npm/@acme/dep/-/dep-1.0.0.tgz", "refs/npm/@acme/app-lib/-/app-lib-1.0.0.tgz"} {
		if !n.Stored(ref) {
			t.Fatalf("%s is not in the bucket after the install", ref)
		}
	}
	n.WaitNoTempFiles(t, 10*time.Second)

	front.Stop()
	mustInstall(t, n, "@acme/app-lib")
}
