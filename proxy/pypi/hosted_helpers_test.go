package pypi_test

import (
	"archive/zip"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"nora/auth"
	"nora/proxy/proxytest"
)

// The user every hosted test nora knows when it has an htpasswd file.
const (
	testUser = "ci"
	testPass = "s3cret-upload"
)

// authConfig is an [auth] section: with htpasswd, the file holds testUser.
func authConfig(t testing.TB, htpasswd, anonymousRead bool) *auth.Config {
	t.Helper()
	a := auth.DefaultConfig()
	a.AnonymousRead = anonymousRead
	if htpasswd {
		a.Htpasswd = proxytest.Htpasswd(t, testUser, testPass)
	}
	return &a
}

// makeWheel is a minimal wheel of name (as METADATA spells it) at
// version, and its file name.
func makeWheel(t testing.TB, name, version, requiresPython string, extra string) (string, []byte) {
	t.Helper()
	dist := strings.ReplaceAll(strings.ToLower(strings.NewReplacer(".", "-", "_", "-").Replace(name)), "-", "_")
	md := "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n"
	if requiresPython != "" {
		md += "Requires-Python: " + requiresPython + "\n"
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range [][2]string{
		{dist + ".py", fmt.Sprintf("VERSION = %q\n%s", version, extra)},
		{dist + "-" + version + ".dist-info/METADATA", md},
		{dist + "-" + version + ".dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: nora-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	} {
		// Stored, not deflated: large test wheels cost no compression time.
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f[0], Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, f[1])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return dist + "-" + version + "-py3-none-any.whl", b.Bytes()
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// form is a legacy upload as twine sends it: fields first, then the file.
type form struct {
	fields   [][2]string
	filename string
	data     []byte
}

// twineForm is the form twine sends for a file of name at version.
func twineForm(name, version, filetype, filename string, data []byte, requiresPython string) *form {
	m := md5.Sum(data)
	return &form{fields: [][2]string{
		{":action", "file_upload"}, {"protocol_version", "1"}, {"name", name}, {"version", version},
		{"filetype", filetype}, {"pyversion", "py3"}, {"metadata_version", "2.1"}, {"summary", "a test"},
		{"description", strings.Repeat("long text ", 1000)}, {"classifiers", "License :: OSI Approved"},
		{"classifiers", "Programming Language :: Python :: 3"}, {"requires_python", requiresPython},
		{"sha256_digest", hexSHA256(data)}, {"md5_digest", hex.EncodeToString(m[:])},
	}, filename: filename, data: data}
}

func (f *form) set(key, value string) *form {
	for i := range f.fields {
		if f.fields[i][0] == key {
			f.fields[i][1] = value
		}
	}
	return f
}

// encode returns the multipart body and its Content-Type.
func (f *form) encode(t testing.TB) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, kv := range f.fields {
		mw.WriteField(kv[0], kv[1])
	}
	if f.filename != "" {
		w, err := mw.CreateFormFile("content", f.filename)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.data)
	}
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// post sends an HTTP POST with Basic credentials (user "" sends none).
func post(t testing.TB, url, user, pass, contentType string, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// upload posts f to nora's upload URL as testUser.
func (n *noraUnderTest) upload(t testing.TB, f *form) (*http.Response, string) {
	t.Helper()
	body, ct := f.encode(t)
	return post(t, n.URL+"/simple/", testUser, testPass, ct, body)
}

// blobStored reports whether nora's store holds bytes with this sha256.
func (n *noraUnderTest) blobStored(data []byte) bool {
	sum := hexSHA256(data)
	return n.Stored("blobs/sha256/" + sum[:2] + "/" + sum)
}

// uploadTemps counts upload temp files left behind.
func (n *noraUnderTest) uploadTemps(t testing.TB) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(n.DataDir, "tmp", "pypi-upload-*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}
