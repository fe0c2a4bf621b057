package cargo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/hosted"
	"nora/internal/fault"
)

func TestPublishAndRead(t *testing.T) {
	r := newTestRegistry(t)
	ctx := context.Background()
	crate := crateOf(t, "Acme-Lib", "0.1.0")
	e, err := r.publish(frame(metaOf("Acme-Lib", "0.1.0", "", ""), crate))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(crate)
	if e.Cksum != hex.EncodeToString(sum[:]) || e.Pubtime == "" || e.Yanked {
		t.Fatalf("entry %+v", e)
	}
	for _, name := range []string{"Acme-Lib", "acme-lib", "ACME_LIB", "acme_lib"} {
		if !r.Hosted(name) {
			t.Fatalf("Hosted(%q) = false", name)
		}
	}
	if r.Hosted("acme-li") || r.Hosted("acmelib") {
		t.Fatal("an unrelated name is hosted")
	}
	idx, err := r.Index(ctx, "acme-lib")
	if err != nil || !bytes.HasPrefix(idx, []byte(`{"name":"Acme-Lib","vers":"0.1.0","deps":[],"cksum":"`+e.Cksum+`"`)) || !bytes.HasSuffix(idx, []byte("\n")) {
		t.Fatalf("Index = %s, %v", idx, err)
	}
	// A look-alike spelling is claimed (never proxied) but has no file.
	if _, err := r.Index(ctx, "acme_lib"); !errors.Is(err, fault.NotFound) {
		t.Fatalf("Index(acme_lib) = %v", err)
	}
	if _, err := r.Index(ctx, "other"); !errors.Is(err, fault.NotFound) {
		t.Fatalf("Index(other) = %v", err)
	}
	obj, err := r.Crate(ctx, "acme-lib", "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(got, crate) {
		t.Fatal("Crate returned other bytes")
	}
	if _, err := r.Crate(ctx, "acme-lib", "0.2.0"); !errors.Is(err, fault.NotFound) {
		t.Fatalf("Crate(0.2.0) = %v", err)
	}

	// A second version is appended; the first line stays as it was.
	if _, err := r.publish(frame(metaOf("Acme-Lib", "0.2.0", "", ""), crateOf(t, "Acme-Lib", "0.2.0"))); err != nil {
		t.Fatal(err)
	}
	idx2, _ := r.Index(ctx, "acme-lib")
	if !bytes.HasPrefix(idx2, idx) || bytes.Count(idx2, []byte("\n")) != 2 {
		t.Fatalf("index after a second version:\n%s", idx2)
	}
}

func TestPublishRefusals(t *testing.T) {
	r := newTestRegistry(t)
	if _, err := r.publish(frame(metaOf("acme-lib", "0.1.0+b1", "", ""), crateOf(t, "acme-lib", "0.1.0+b1"))); err != nil {
		t.Fatal(err)
	}
	f := func(name, vers string, kind error, msg string) {
		t.Helper()
		_, err := r.publish(frame(metaOf(name, vers, "", ""), crateOf(t, name, vers)))
		if !errors.Is(err, kind) || err.Error() != msg {
			t.Fatalf("publish %s %s = %v, want %v %q", name, vers, err, kind, msg)
		}
	}
	f("acme-lib", "0.1.0+b1", fault.Conflict, "crate version `0.1.0+b1` is already uploaded")
	f("acme-lib", "0.1.0", fault.Conflict, "crate version `0.1.0+b1` is already uploaded")
	f("acme-lib", "0.1.0+b2", fault.Conflict, "crate version `0.1.0+b1` is already uploaded")
	f("acme_lib", "0.2.0", fault.Conflict, "crate name `acme_lib` is taken by hosted crate `acme-lib`")
	f("Acme-Lib", "0.2.0", fault.Conflict, "crate name `Acme-Lib` is taken by hosted crate `acme-lib`")
	before := r.files(t, "")

	// Bodies refused before anything is stored.
	g := func(body []byte, kind error, msg string) {
		t.Helper()
		_, err := r.publish(body)
		if !errors.Is(err, kind) || !strings.Contains(err.Error(), msg) {
			t.Fatalf("publish = %v, want %v with %q", err, kind, msg)
		}
	}
	good := frame(metaOf("fresh", "1.0.0", "", ""), crateOf(t, "fresh", "1.0.0"))
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-6] ^= 0xff
	g(corrupt, fault.Invalid, "corrupt")
	g(good[:len(good)-1], fault.Invalid, "does not match")
	g(append(bytes.Clone(good), 0), fault.Invalid, "does not match")
	g(good[:3], fault.Invalid, "ends before the length of metadata")
	g(frame(metaOf("fresh", "1.0.0", "", ""), crateOf(t, "fresh", "1.0.1")), fault.Invalid, "outside fresh-1.0.0/")
	g(frame(metaOf("fresh", "1.0.0", "", ""), nil), fault.Invalid, "empty")
	g(frame([]byte("{"), nil), fault.Invalid, "publish metadata")
	g(frame(bytes.Repeat([]byte(" "), 2<<20), nil), fault.TooLarge, "more than")
	if _, err := ReadRequest(bytes.NewReader(good), 2<<20, 1<<20); !errors.Is(err, fault.TooLarge) {
		t.Fatalf("declared size over the cap: %v", err)
	}
	// A body of unknown length (chunked): the framing alone must end it.
	q, err := ReadRequest(bytes.NewReader(append(bytes.Clone(good), 'x')), -1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(context.Background(), q); !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "bytes after the .crate") {
		t.Fatalf("trailing byte, chunked: %v", err)
	}
	q, _ = ReadRequest(bytes.NewReader(good[:len(good)-5]), -1, 1<<20)
	if _, err := r.Publish(context.Background(), q); !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "ends before the .crate does") {
		t.Fatalf("truncated, chunked: %v", err)
	}
	if after := r.files(t, ""); fmt.Sprint(after) != fmt.Sprint(before) || r.Hosted("fresh") {
		t.Fatalf("refused publishes left something behind:\nbefore %v\nafter  %v", before, after)
	}
}

func TestConcurrentPublishes(t *testing.T) {
	r := newTestRegistry(t)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		for _, name := range []string{"acme", "other"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				vers := fmt.Sprintf("0.1.%d", i)
				_, err := r.publish(frame(metaOf(name, vers, "", ""), crateOf(t, name, vers)))
				errs <- err
			}()
		}
	}
	// The same version from two clients at once: exactly one wins.
	results := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.publish(frame(metaOf("acme", "9.0.0", "", ""), crateOf(t, "acme", "9.0.0")))
			results <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	a, b := <-results, <-results
	if (a == nil) == (b == nil) || !(errors.Is(a, fault.Conflict) || errors.Is(b, fault.Conflict)) {
		t.Fatalf("racing publishes of one version: %v, %v", a, b)
	}
	for _, name := range []string{"acme", "other"} {
		idx, err := r.Index(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := parseIndex(idx)
		want := n
		if name == "acme" {
			want++
		}
		if err != nil || len(entries) != want {
			t.Fatalf("%s has %d versions, want %d (%v)", name, len(entries), want, err)
		}
	}
}

func TestYank(t *testing.T) {
	r := newTestRegistry(t)
	ctx := context.Background()
	for _, v := range []string{"0.1.0", "0.2.0"} {
		if _, err := r.publish(frame(metaOf("acme", v, "", ""), crateOf(t, "acme", v))); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := r.Index(ctx, "acme")
	f := func(name, vers string, yanked bool, wantErr error) {
		t.Helper()
		if err := r.SetYanked(ctx, name, vers, yanked); !errors.Is(err, wantErr) {
			t.Fatalf("SetYanked(%s, %s, %v) = %v, want %v", name, vers, yanked, err, wantErr)
		}
	}
	f("acme", "0.1.0", true, nil)
	f("acme", "0.1.0", true, nil) // idempotent
	f("ACME", "0.1.0", true, nil)
	f("acme", "0.3.0", true, fault.NotFound)
	f("other", "0.1.0", true, fault.NotFound)
	idx, _ := r.Index(ctx, "acme")
	want := strings.Replace(string(before), `"yanked":false`, `"yanked":true`, 1)
	if string(idx) != want {
		t.Fatalf("after yank:\n%s\nwant\n%s", idx, want)
	}
	// Yanked versions stay downloadable.
	if obj, err := r.Crate(ctx, "acme", "0.1.0"); err != nil {
		t.Fatal(err)
	} else {
		obj.Body.Close()
	}
	f("acme", "0.1.0", false, nil)
	if idx, _ := r.Index(ctx, "acme"); !bytes.Equal(idx, before) {
		t.Fatalf("after unyank:\n%s\nwant\n%s", idx, before)
	}
}

func TestReferencedAndReopen(t *testing.T) {
	r := newTestRegistry(t)
	want := map[digest.Digest]bool{}
	for _, nv := range [][2]string{{"acme", "0.1.0"}, {"acme", "0.2.0"}, {"other_crate", "1.0.0"}} {
		crate := crateOf(t, nv[0], nv[1])
		if _, err := r.publish(frame(metaOf(nv[0], nv[1], "", ""), crate)); err != nil {
			t.Fatal(err)
		}
		want[digest.FromBytes(crate)] = true
	}
	if err := r.SetYanked(context.Background(), "acme", "0.1.0", true); err != nil {
		t.Fatal(err)
	}
	// A fresh Registry over the same store sees the same state.
	r2, err := Open(context.Background(), r.store, r.c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Hosted("other-crate") || !r2.Hosted("acme") || r2.Hosted("nope") {
		t.Fatal("hosted names lost on reopen")
	}
	got := map[digest.Digest]bool{}
	if err := r2.Referenced(func(d digest.Digest) error { got[d] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Referenced = %v, want %v", got, want)
	}
	for d := range want {
		if _, err := r.c.Stat(context.Background(), "blobs/sha256/"+d.Encoded()[:2]+"/"+d.Encoded()); err != nil {
			t.Fatalf("blob %s: %v", d, err)
		}
	}
	stop := errors.New("stop")
	if err := r2.Referenced(func(digest.Digest) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Referenced did not pass on its callback's error: %v", err)
	}
}

// TestOpenLegacyNames: the names as earlier versions stored them (one a
// line) still load, and the next publish stores them as JSON with the new
// name added.
func TestOpenLegacyNames(t *testing.T) {
	r := newTestRegistry(t)
	ctx := context.Background()
	if err := r.store.Put(ctx, namesKey, strings.NewReader("acme-lib\nOther_Crate\n")); err != nil {
		t.Fatal(err)
	}
	open := func() *Registry {
		t.Helper()
		r2, err := Open(ctx, r.store, r.c, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return r2
	}
	old := open()
	if !old.Hosted("acme_lib") || !old.Hosted("other-crate") || old.Hosted("fresh") {
		t.Fatal("names stored one a line are lost")
	}
	r.Registry = old
	if _, err := r.publish(frame(metaOf("other-crate", "1.0.0", "", ""), crateOf(t, "other-crate", "1.0.0"))); !errors.Is(err, fault.Conflict) {
		t.Fatalf("publishing a look-alike of a legacy name: %v", err)
	}
	if _, err := r.publish(frame(metaOf("fresh", "1.0.0", "", ""), crateOf(t, "fresh", "1.0.0"))); err != nil {
		t.Fatal(err)
	}
	b, err := hosted.Read(ctx, r.store, namesKey, 1<<10)
	if err != nil || string(b) != `["Other_Crate","acme-lib","fresh"]` {
		t.Fatalf("names stored as %s, %v", b, err)
	}
	if again := open(); !again.Hosted("acme-lib") || !again.Hosted("other_crate") || !again.Hosted("fresh") {
		t.Fatal("names lost once rewritten")
	}
}

func TestOpenRefusesInvalidNames(t *testing.T) {
	r := newTestRegistry(t)
	ctx := context.Background()
	for _, body := range []string{"acme\n../x\n", `["acme","a b"]`} {
		if err := r.store.Put(ctx, namesKey, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, r.store, r.c, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "invalid name") {
			t.Fatalf("%q: %v", body, err)
		}
	}
}
