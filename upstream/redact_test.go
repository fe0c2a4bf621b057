package upstream

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestErrorsRedactURLs: an upstream error quotes the URL that failed, and a
// CDN redirect carries its signature in the query; neither reaches an
// error, which ends up in logs and in answers to clients.
func TestErrorsRedactURLs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() // nothing answers once closed
	ln.Close()
	fk := newFake(t, func(fk *fake) {
		fk.serve = func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, dead+"/data?X-Amz-Credential=s3cret&X-Amz-Signature=s3cret&n=1", http.StatusTemporaryRedirect)
		}
	})
	r, _ := newTestRegistry(t, testConfig(), RegistryOptions{URL: fk.reg.URL})
	f := func(what string, err error) {
		t.Helper()
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err = r.Do(context.Background(), http.MethodGet, "x", "blobs/sha256:cdn", nil)
	f("redirect to a dead CDN", err)
	if !strings.Contains(err.Error(), "X-Amz-Signature=REDACTED&n=1") {
		t.Fatalf("the error lost the URL's shape: %v", err)
	}
	_, err = r.DoURL(context.Background(), http.MethodGet, dead+"/simple/x/?token=s3cret", nil)
	f("unreachable document", err)
	_, err = r.DoURL(context.Background(), http.MethodGet, "ftp://h.invalid/x?pw=s3cret", nil)
	f("invalid URL", err)
	_, err = r.DoURL(context.Background(), http.MethodGet, "http://u:s3cret@h.invalid/x", nil)
	f("URL with a password", err)
}
