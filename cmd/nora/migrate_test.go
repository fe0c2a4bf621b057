package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/disk"
	"nora/cache/s3/s3test"
	"nora/cache/transfer"
	"nora/proxy"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// The migrate, backup and restore commands end to end: a nora with hosted
// content of every format, pushed and published over the real protocols,
// is stopped, copied disk -> S3 -> disk, and read back from the last copy.

const mgUser, mgPass = "ci", "migrate-pass"

// mgConfig is a hosted-only nora on storage (the [storage] section's
// body), whose users may push; it writes the config and returns its path.
func mgConfig(t *testing.T, storage string) string {
	t.Helper()
	sock, err := os.MkdirTemp("", "nora-mg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })
	doc := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\nadmin_socket = %q\n[storage]\n%s\n"+
		"[docker]\nupstreams = []\n[npm]\noffline = true\n[pypi]\noffline = true\n[maven]\nupstreams = []\n"+
		"[cargo]\noffline = true\n[auth]\nhtpasswd = %q\n",
		filepath.Join(sock, "admin.sock"), storage, proxytest.Htpasswd(t, mgUser, mgPass))
	return writeConfig(t, doc)
}

// startStoppable serves the config's nora in process; stop ends it and
// waits until it released its storage.
func startStoppable(t *testing.T, config string) (url string, stop func()) {
	t.Helper()
	cfg, _, err := loadStartable(config, systemConfigPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	app, err := proxy.NewApp(cfg.app(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return "http://" + app.Addr().String(), stop
}

// nora runs the nora command line in process.
func noraCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut, nil)
	return code, out.String(), errOut.String()
}

func mustNora(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := noraCmd(args...)
	if code != 0 {
		t.Fatalf("nora %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// hostedItems is one item of each format, as published.
type hostedItems struct {
	image             string // digest of the pushed image
	npmTgz            []byte
	wheelName         string
	wheel, jar, crate []byte
}

func do(t *testing.T, method, url, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if method != http.MethodGet {
		req.SetBasicAuth(mgUser, mgPass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func mustDo(t *testing.T, method, url, contentType string, body []byte) []byte {
	t.Helper()
	code, b := do(t, method, url, contentType, body)
	if code/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, url, code, b)
	}
	return b
}

// publishAll pushes an image and publishes an npm package, a wheel, a
// Maven jar and pom and a crate to the nora at base.
func publishAll(t *testing.T, base string) hostedItems {
	t.Helper()
	var it hostedItems
	img, err := random.Image(50_000, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(strings.TrimPrefix(base, "http://")+"/acme/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: mgUser, Password: mgPass})); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	it.image = d.String()

	it.npmTgz = npmtest.Tarball(t, "@acme/lib", "1.0.0", 3000)
	mustDo(t, "PUT", base+"/npm/@acme%2flib", "application/json", npmPublishDoc("@acme/lib", "1.0.0", it.npmTgz))

	it.wheelName, it.wheel = wheel(t, "acme-lib", "1.0")
	body, ct := pypiForm(t, "acme-lib", "1.0", it.wheelName, it.wheel)
	mustDo(t, "POST", base+"/simple/", ct, body)

	it.jar = bytes.Repeat([]byte("jar bytes "), 2000)
	mustDo(t, "PUT", base+"/maven2/com/acme/lib/1.0/lib-1.0.jar", "", it.jar)
	mustDo(t, "PUT", base+"/maven2/com/acme/lib/1.0/lib-1.0.pom", "", []byte("<project><groupId>com.acme</groupId></project>"))

	it.crate = crateFile(t, "acme-lib", "0.1.0")
	mustDo(t, "PUT", base+"/cargo/api/v1/crates/new", "", cargoPublishBody("acme-lib", "0.1.0", it.crate))
	return it
}

// readAll reads one item of each format back from the nora at base.
func (it hostedItems) readAll(t *testing.T, base string) {
	t.Helper()
	ref, _ := name.NewTag(strings.TrimPrefix(base, "http://")+"/acme/app:1", name.Insecure)
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("image: %v", err)
	}
	if d, _ := img.Digest(); d.String() != it.image {
		t.Fatalf("image digest %s, pushed %s", d, it.image)
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, rc) // go-containerregistry checks the digest
		if err := rc.Close(); err != nil {
			t.Fatalf("layer: %v", err)
		}
	}
	if doc := mustDo(t, "GET", base+"/npm/@acme%2flib", "", nil); !bytes.Contains(doc, []byte(`"1.0.0"`)) {
		t.Fatalf("packument: %s", doc)
	}
	same := func(what, url string, want []byte) {
		t.Helper()
		if got := mustDo(t, "GET", url, "", nil); !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes differ from the %d published", what, len(got), len(want))
		}
	}
	same("npm tarball", base+"/npm/@acme/lib/-/lib-1.0.0.tgz", it.npmTgz)
	page := mustDo(t, "GET", base+"/simple/acme-lib/", "", nil)
	if !bytes.Contains(page, []byte(it.wheelName)) {
		t.Fatalf("PyPI page: %s", page)
	}
	same("wheel", base+"/simple/acme-lib/"+it.wheelName, it.wheel)
	same("jar", base+"/maven2/com/acme/lib/1.0/lib-1.0.jar", it.jar)
	same("crate", base+"/cargo/api/v1/crates/acme-lib/0.1.0/download", it.crate)
}

func npmPublishDoc(pkg, ver string, tgz []byte) []byte {
	s512 := sha512Sum(tgz)
	doc := map[string]any{
		"_id": pkg, "name": pkg, "dist-tags": map[string]string{"latest": ver},
		"versions": map[string]any{ver: map[string]any{"name": pkg, "version": ver,
			"dist": map[string]string{"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s512)}}},
		"_attachments": map[string]any{pkg + "-" + ver + ".tgz": map[string]any{
			"content_type": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(tgz), "length": len(tgz)}},
	}
	b, _ := json.Marshal(doc)
	return b
}

func wheel(t *testing.T, project, ver string) (string, []byte) {
	dist := strings.ReplaceAll(project, "-", "_")
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for n, body := range map[string]string{
		dist + ".py":                             "X = 1\n",
		dist + "-" + ver + ".dist-info/METADATA": "Metadata-Version: 2.1\nName: " + project + "\nVersion: " + ver + "\n",
		dist + "-" + ver + ".dist-info/WHEEL":    "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
	} {
		w, _ := zw.Create(n)
		io.WriteString(w, body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return dist + "-" + ver + "-py3-none-any.whl", b.Bytes()
}

// pypiForm is the upload twine sends.
func pypiForm(t *testing.T, project, ver, file string, data []byte) ([]byte, string) {
	sum := sha256.Sum256(data)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, kv := range [][2]string{{":action", "file_upload"}, {"protocol_version", "1"}, {"name", project},
		{"version", ver}, {"filetype", "bdist_wheel"}, {"pyversion", "py3"}, {"metadata_version", "2.1"},
		{"sha256_digest", hex.EncodeToString(sum[:])}} {
		mw.WriteField(kv[0], kv[1])
	}
	w, err := mw.CreateFormFile("content", file)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// cargoPublishBody is what cargo publish sends: metadata and crate, each
// after its little-endian length.
func cargoPublishBody(crate, vers string, data []byte) []byte {
	m, _ := json.Marshal(map[string]any{"name": crate, "vers": vers, "deps": []any{}, "features": map[string]any{},
		"authors": []string{}, "description": "x", "license": "MIT", "keywords": []string{}, "categories": []string{},
		"badges": map[string]any{}})
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(m)))
	b = append(b, m...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// crateFile is a .crate as cargo packages it: a gzipped tar of
// <name>-<vers>/ with its Cargo.toml.
func crateFile(t *testing.T, crate, vers string) []byte {
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for n, body := range map[string]string{
		"Cargo.toml": "[package]\nname = \"" + crate + "\"\nversion = \"" + vers + "\"\n",
		"src/lib.rs": strings.Repeat("// crate bytes\n", 500),
	} {
		tw.WriteHeader(&tar.Header{Name: crate + "-" + vers + "/" + n, Mode: 0o644, Size: int64(len(body))})
		io.WriteString(tw, body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	gz.Close()
	return b.Bytes()
}

// contentOf is every store object's and state file's sha256 on the
// storage of config.
func contentOf(t *testing.T, config string) map[string]string {
	t.Helper()
	cfg, _, err := loadConfig(config, systemConfigPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := proxy.OpenStore(context.Background(), cfg.Storage)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	err = store.(cache.Lister).List(context.Background(), "", func(key string, _ cache.Info) error {
		rc, _, err := store.Get(context.Background(), key, 0)
		if err != nil {
			return err
		}
		defer rc.Close()
		h := sha256.New()
		io.Copy(h, rc)
		out["store/"+key] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files, err := transfer.LocalFiles(cfg.Storage.Path, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(cfg.Storage.Path, f.Rel))
		sum := sha256.Sum256(b)
		out["local/"+f.Rel] = hex.EncodeToString(sum[:]) + " " + f.Mode.String()
	}
	return out
}

func sameStorage(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d objects and files, want %d", what, len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s is %q, want %q", what, k, got[k], v)
		}
	}
}

func sha512Sum(b []byte) []byte {
	s := sha512.Sum512(b)
	return s[:]
}

// s3Storage is a [storage] body on a new bucket of srv.
func s3Storage(t *testing.T, srv *s3test.Server) string {
	t.Helper()
	c := srv.Config(srv.NewBucket(t))
	return fmt.Sprintf("backend = \"s3\"\npath = %q\n[storage.s3]\nendpoint = %q\nbucket = %q\nregion = %q\npath_style = true\n",
		t.TempDir(), c.Endpoint, c.Bucket, c.Region)
}

func diskStorage(t *testing.T) string { return fmt.Sprintf("path = %q", t.TempDir()) }

// storagePath is the [storage] path of config.
func storagePath(t *testing.T, config string) string {
	t.Helper()
	cfg, _, err := loadConfig(config, systemConfigPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Storage.Path
}

// Hosted content of every format, migrated disk -> S3 -> disk, is byte
// for byte what was published, state files included, and a nora on the
// last copy serves it; a rerun skips everything; a dry run copies nothing;
// a running server makes migrate and restore refuse. Backup and restore of
// the same storage give the same content; a cut or damaged backup is
// refused.
func TestMigrateEveryFormat(t *testing.T) {
	srv := s3test.Start(t)
	s3test.Setenv(t)
	a := mgConfig(t, diskStorage(t))
	base, stop := startStoppable(t, a)
	items := publishAll(t, base)
	b := mgConfig(t, s3Storage(t, srv))
	refused := func(what string, args ...string) {
		t.Helper()
		if code, _, errOut := noraCmd(args...); code == 0 || !strings.Contains(errOut, "stop the server") {
			t.Fatalf("%s while a server runs: exit %d, %s", what, code, errOut)
		}
	}
	refused("migrate", "migrate", "--from", a, "--to", b)
	refused("restore", "restore", filepath.Join(t.TempDir(), "none.tar"), "--config", a)
	// The running server backs itself up over its admin socket.
	live := filepath.Join(t.TempDir(), "live.tar")
	if out := mustNora(t, "backup", live, "--config", a); !strings.Contains(out, "backed up ") {
		t.Fatalf("backup of the running server: %s", out)
	}
	stop()
	liveWant := contentOf(t, a)
	restoredLive := mgConfig(t, diskStorage(t))
	mustNora(t, "restore", live, "--config", restoredLive)
	sameStorage(t, "restored from the running server's backup", contentOf(t, restoredLive), liveWant)
	ca := filepath.Join(storagePath(t, a), "tls", "site-ca.key")
	os.MkdirAll(filepath.Dir(ca), 0o700)
	os.WriteFile(ca, []byte("a private key"), 0o600)
	want := contentOf(t, a)
	if len(want) < 12 {
		t.Fatalf("the published storage holds only %v", want)
	}

	out := mustNora(t, "migrate", "--from", a, "--to", b, "--dry-run")
	if !strings.Contains(out, "would copy blobs/sha256/") || !strings.Contains(out, "would copy file tls/site-ca.key") ||
		len(contentOf(t, b)) != 0 {
		t.Fatalf("dry run:\n%s", out)
	}
	out = mustNora(t, "migrate", "--from", a, "--to", b)
	if !strings.Contains(out, fmt.Sprintf("copied %d ", len(want))) {
		t.Fatalf("disk -> S3:\n%s", out)
	}
	sameStorage(t, "S3", contentOf(t, b), want)
	var rep transfer.Report
	if err := json.Unmarshal([]byte(mustNora(t, "migrate", "--from", a, "--to", b, "--json")), &rep); err != nil ||
		rep.Skipped != int64(len(want)) || rep.Copied != 0 {
		t.Fatalf("rerun: %+v %v", rep, err)
	}
	c := mgConfig(t, diskStorage(t))
	if err := json.Unmarshal([]byte(mustNora(t, "migrate", "--from", b, "--to", c, "--dry-run", "--json")), &rep); err != nil ||
		rep.WouldCopy != int64(len(want)) {
		t.Fatalf("dry run to disk: %+v %v", rep, err)
	}
	if entries, _ := os.ReadDir(storagePath(t, c)); len(entries) != 0 {
		t.Fatalf("a dry run created %v", entries)
	}
	mustNora(t, "migrate", "--from", b, "--to", c)
	sameStorage(t, "disk", contentOf(t, c), want)
	base, stop = startStoppable(t, c)
	items.readAll(t, base)
	stop()

	backupRestore(t, c, want)
}

// backupRestore backs config's storage up, restores it into an empty one
// and refuses a cut and a damaged copy of the file.
func backupRestore(t *testing.T, config string, want map[string]string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "nora.tar")
	mustNora(t, "backup", file, "--config", config)
	d := mgConfig(t, diskStorage(t))
	mustNora(t, "restore", file, "--config", d)
	sameStorage(t, "restored", contentOf(t, d), want)
	if code, _, errOut := noraCmd("restore", file, "--config", d); code == 0 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("restore into a full storage: %d %s", code, errOut)
	}
	tarball, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	broken := func(what string, b []byte, msg string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "broken.tar")
		os.WriteFile(f, b, 0o600)
		e := mgConfig(t, diskStorage(t))
		if code, _, errOut := noraCmd("restore", f, "--config", e); code == 0 || !strings.Contains(errOut, msg) {
			t.Fatalf("%s: exit %d: %s", what, code, errOut)
		}
		for k := range contentOf(t, e) {
			if !strings.HasPrefix(k, "store/blobs/") {
				t.Fatalf("%s: %s restored from a broken backup", what, k)
			}
		}
	}
	broken("a cut file", tarball[:len(tarball)*2/3], "truncated")
	at := bytes.Index(tarball, []byte("a private key"))
	flipped := bytes.Clone(tarball)
	flipped[at+2] ^= 0x20
	broken("a flipped byte", flipped, "local/tls/site-ca.key")
}

// A migrate cut short (here after 10 of 30 objects) finishes on the next
// run, which skips what the first copied.
func TestMigrateResumesAfterCut(t *testing.T) {
	a, b := mgConfig(t, diskStorage(t)), mgConfig(t, diskStorage(t))
	src, err := disk.Open(storagePath(t, a))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		blob := bytes.Repeat([]byte{byte(i)}, 5000+i)
		if err := src.Put(context.Background(), cache.BlobKey(digest.FromBytes(blob)), bytes.NewReader(blob)); err != nil {
			t.Fatal(err)
		}
	}
	dst, err := disk.Open(storagePath(t, b))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = transfer.Migrate(ctx, transfer.Side{Store: src, Path: storagePath(t, a)}, transfer.Side{Store: dst, Path: storagePath(t, b)},
		transfer.Options{Workers: 1, Progress: func(transfer.Event) {
			if n++; n == 10 {
				cancel()
			}
		}})
	if err == nil {
		t.Fatal("the cut migrate did not stop")
	}
	var rep transfer.Report
	if err := json.Unmarshal([]byte(mustNora(t, "migrate", "--from", a, "--to", b, "--json")), &rep); err != nil ||
		rep.Skipped < 10 || rep.Copied == 0 || rep.Skipped+rep.Copied != 30 || rep.Failed != 0 {
		t.Fatalf("resumed: %+v %v", rep, err)
	}
	sameStorage(t, "resumed", contentOf(t, b), contentOf(t, a))
}
