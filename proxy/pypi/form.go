package pypi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"

	"nora/internal/fault"
)

// uploadFields are the legacy upload API's form fields nora reads; the
// others (description, classifiers, requires_dist, ...) are read past and
// dropped: the file's own metadata is what installers use.
var uploadFields = map[string]bool{
	":action": true, "protocol_version": true, "name": true, "version": true,
	"filetype": true, "pyversion": true, "metadata_version": true,
	"sha256_digest": true, "md5_digest": true, "blake2_256_digest": true,
	"requires_python": true,
}

const (
	// maxFieldBytes caps one kept field; the fields nora reads are short.
	maxFieldBytes = 64 << 10
	// maxParts caps the parts of one form (twine sends one per classifier
	// and requirement: dozens).
	maxParts = 10_000
)

// errForm is a body that is not the form the legacy upload API describes.
var errForm = fault.New(fault.Invalid, "malformed upload form")

// uploadForm is what readForm kept of an upload body.
type uploadForm struct {
	fields   map[string]string
	filename string // of the "content" part, "" if there was none
}

// readForm reads the multipart/form-data body of a legacy upload (twine's
// POST, PEP 694's predecessor) part by part: no part is held in memory
// beyond maxFieldBytes, and the "content" part (the distribution file) is
// handed to content as a stream, with the fields read before it, so the
// caller can refuse it before reading a byte (twine sends the fields
// first). content must read the part to its end or fail. A body that
// cannot be read or is malformed is errForm (wrapping errTooLarge or the
// connection's error where that is the cause); content's own errors come
// back as they are.
func readForm(body io.Reader, boundary string, content func(filename string, fields map[string]string, r io.Reader) error) (*uploadForm, error) {
	if boundary == "" {
		return nil, fmt.Errorf("%w: no multipart boundary", errForm)
	}
	mr := multipart.NewReader(body, boundary)
	form := &uploadForm{fields: map[string]string{}}
	for n := 0; ; n++ {
		if n >= maxParts {
			return nil, fmt.Errorf("%w: more than %d parts", errForm, maxParts)
		}
		p, err := mr.NextPart()
		// io.EOF itself is the end (the io.Reader contract); a wrapped
		// one, as multipart returns for a truncated form, is an error.
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, partError(err)
		}
		name, filename, ok := disposition(p.Header.Get("Content-Disposition"))
		switch {
		case !ok:
			p.Close()
			return nil, fmt.Errorf("%w: a part without a form-data name", errForm)
		case name == "content":
			if form.filename != "" {
				return nil, fmt.Errorf("%w: more than one content part", errForm)
			}
			if filename == "" {
				return nil, fmt.Errorf("%w: the content part has no file name", errForm)
			}
			form.filename = filename
			src := &errReader{r: p}
			if err := content(filename, form.fields, src); err != nil {
				if src.err != nil {
					return nil, partError(src.err) // the body, not the consumer, failed
				}
				return nil, err
			}
		case uploadFields[name]:
			if _, dup := form.fields[name]; dup {
				return nil, fmt.Errorf("%w: field %s given twice", errForm, name)
			}
			b, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
			if err != nil {
				return nil, partError(err)
			}
			if len(b) > maxFieldBytes {
				return nil, fmt.Errorf("%w: field %s is longer than %d bytes", errForm, name, maxFieldBytes)
			}
			form.fields[name] = string(b)
		default:
			if _, err := io.Copy(io.Discard, p); err != nil {
				return nil, partError(err)
			}
		}
	}
	return form, nil
}

// disposition reads a part's form-data name and, raw (not reduced to a
// base name as multipart.Part.FileName does), its filename.
func disposition(v string) (name, filename string, ok bool) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || mt != "form-data" || params["name"] == "" {
		return "", "", false
	}
	return params["name"], params["filename"], true
}

// partError marks a failure to read the body as errForm, keeping what it
// wraps (errTooLarge, a connection that broke off) for errors.Is.
func partError(err error) error {
	if errors.Is(err, errForm) {
		return err
	}
	return fmt.Errorf("%w: %w", errForm, err)
}

// errTooLarge is a body past max_upload_size.
var errTooLarge = fault.New(fault.TooLarge, "upload is larger than max_upload_size")

// capReader fails with errTooLarge once more than n bytes were read.
type capReader struct {
	r io.Reader
	n int64 // bytes still allowed
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > c.n+1 {
		p = p[:c.n+1]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	if c.n < 0 {
		return n, errTooLarge
	}
	return n, err
}

// errReader remembers its source's error, to tell a body that broke off
// from a consumer that failed (a temp file that could not be written).
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}
