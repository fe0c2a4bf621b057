package pypi

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"strings"
	"testing"
	"testing/iotest"
)

const testBoundary = "nora-test-boundary"

// formBody builds a multipart body: parts are "name=value", or
// "name@filename=value" for a file part.
func formBody(parts ...string) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.SetBoundary(testBoundary)
	for _, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		if name, file, ok := strings.Cut(k, "@"); ok {
			w, _ := mw.CreateFormFile(name, file)
			io.WriteString(w, v)
			continue
		}
		mw.WriteField(k, v)
	}
	mw.Close()
	return b.Bytes()
}

// readTestForm runs readForm and returns its fields, the content's file
// name and bytes.
func readTestForm(body io.Reader) (map[string]string, string, string, error) {
	var content bytes.Buffer
	form, err := readForm(body, testBoundary, func(_ string, _ map[string]string, r io.Reader) error {
		_, err := io.Copy(&content, r)
		return err
	})
	if err != nil {
		return nil, "", "", err
	}
	return form.fields, form.filename, content.String(), nil
}

func TestReadForm(t *testing.T) {
	f := func(body []byte, wantFields, wantFile, wantContent string, wantErr error) {
		t.Helper()
		fields, file, content, err := readTestForm(bytes.NewReader(body))
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("readForm: %v, want %v", err, wantErr)
			}
			return
		}
		var got []string
		for _, k := range []string{":action", "name", "version", "sha256_digest"} {
			if v, ok := fields[k]; ok {
				got = append(got, k+"="+v)
			}
		}
		if err != nil || strings.Join(got, " ") != wantFields || file != wantFile || content != wantContent {
			t.Fatalf("readForm: %q %q %q %v, want %q %q %q", got, file, content, err, wantFields, wantFile, wantContent)
		}
	}
	f(formBody(":action=file_upload", "name=acme", "version=1.0", "description=dropped", "content@a-1.0.tar.gz=BYTES"),
		":action=file_upload name=acme version=1.0", "a-1.0.tar.gz", "BYTES", nil)
	// Fields after the file are read too.
	f(formBody("content@a.whl=X", "sha256_digest=abc", "classifiers=a", "classifiers=b"), "sha256_digest=abc", "a.whl", "X", nil)
	f(formBody("name=a"), "name=a", "", "", nil)
	f(formBody("name=a", "name=b"), "", "", "", errForm)
	f(formBody("content@a.whl=1", "content@b.whl=2"), "", "", "", errForm)
	f(formBody("content=not a file"), "", "", "", errForm)
	f(formBody("name="+strings.Repeat("x", maxFieldBytes+1)), "", "", "", errForm)
	f(formBody("description="+strings.Repeat("x", 3*maxFieldBytes)), "", "", "", nil) // dropped fields are not capped
	f([]byte("not multipart"), "", "", "", errForm)
	f([]byte("--"+testBoundary+"\r\nContent-Disposition: attachment\r\n\r\nx\r\n--"+testBoundary+"--\r\n"), "", "", "", errForm)
	full := formBody("name=a", "content@a.whl=0123456789")
	f(full[:len(full)-20], "", "", "", errForm) // cut short

	// The cap: errTooLarge, also when the body is read in small pieces.
	_, _, _, err := readTestForm(iotest.OneByteReader(&capReader{r: bytes.NewReader(full), n: int64(len(full) - 30)}))
	if !errors.Is(err, errTooLarge) {
		t.Fatalf("body past the cap: %v", err)
	}
	if _, _, _, err := readTestForm(&capReader{r: bytes.NewReader(full), n: int64(len(full))}); err != nil {
		t.Fatalf("body at the cap: %v", err)
	}
	// A body that fails mid-way keeps its error.
	_, _, _, err = readTestForm(io.MultiReader(bytes.NewReader(full[:len(full)-30]), iotest.ErrReader(io.ErrClosedPipe)))
	if !errors.Is(err, io.ErrClosedPipe) || !errors.Is(err, errForm) {
		t.Fatalf("broken body: %v", err)
	}
}

func FuzzReadForm(f *testing.F) {
	f.Add(formBody(":action=file_upload", "name=acme", "version=1.0", "sha256_digest=ab", "content@acme-1.0.tar.gz=BYTES"))
	f.Add(formBody("content@x.whl=", "name=", "classifiers=a"))
	f.Add([]byte("--" + testBoundary + "\r\nContent-Disposition: form-data; name=\"content\"; filename*=UTF-8''a%20b.whl\r\n\r\nx\r\n--" + testBoundary + "--\r\n"))
	f.Add([]byte("--" + testBoundary + "\r\nContent-Disposition: form-data; name=name\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db\r\n--" + testBoundary + "--"))
	f.Fuzz(func(t *testing.T, body []byte) {
		calls := 0
		var got int64
		form, err := readForm(&capReader{r: bytes.NewReader(body), n: 1 << 20}, testBoundary,
			func(filename string, fields map[string]string, r io.Reader) error {
				calls++
				if filename == "" || calls > 1 {
					t.Fatalf("content called for %q (%d times)", filename, calls)
				}
				n, err := io.Copy(io.Discard, r)
				got += n
				return err
			})
		if got > int64(len(body)) {
			t.Fatalf("content read %d bytes of a %d-byte body", got, len(body))
		}
		if err != nil {
			if !errors.Is(err, errForm) && !errors.Is(err, errTooLarge) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if (form.filename != "") != (calls == 1) {
			t.Fatalf("file name %q with %d content calls", form.filename, calls)
		}
		for k, v := range form.fields {
			if !uploadFields[k] || len(v) > maxFieldBytes {
				t.Fatalf("kept field %q of %d bytes", k, len(v))
			}
		}
	})
}
