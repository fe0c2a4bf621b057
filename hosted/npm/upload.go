package npm

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"

	"nora/internal/fault"
)

// npm publish sends one JSON document: the package's name, dist-tags, the
// new version's manifest and, under _attachments, the tarball in base64.
// The document is never held whole: a small streaming scanner keeps the
// metadata (bounded by Limits.MaxMetadata) and decodes the attachment's
// data straight into a temp file, hashing it on the way. npm deprecate and
// npm unpublish send the same document without attachments.

// Limits bound one PUT body.
type Limits struct {
	// MaxBody caps the whole body (a base64 tarball is a third larger than
	// the tarball).
	MaxBody int64
	// MaxMetadata caps everything but the attachment's data: the part held
	// in memory.
	MaxMetadata int64
}

// DefaultLimits are 64 MiB of body, 8 MiB of metadata.
func DefaultLimits() Limits { return Limits{MaxBody: 64 << 20, MaxMetadata: 8 << 20} }

// Document is a PUT /npm/<name> body.
type Document struct {
	ID       string                     `json:"_id"`
	Name     string                     `json:"name"`
	DistTags map[string]string          `json:"dist-tags"`
	Versions map[string]json.RawMessage `json:"versions"`
	// Attachment is the tarball, nil when the document carries none (a
	// metadata update). The caller commits or discards it.
	Attachment *Attachment `json:"-"`
}

// Attachment is a decoded tarball waiting in a temp file.
type Attachment struct {
	Name     string // "@acme/lib-1.0.0.tgz", as npm names it
	Declared int64  // the "length" npm sent; -1 if none
	Size     int64  // decoded bytes
	SHA256   digest.Digest
	SHA512   []byte
	SHA1     []byte
	path     string
}

// Discard removes the temp file (a no-op once committed).
func (a *Attachment) Discard() {
	if a != nil && a.path != "" {
		os.Remove(a.path)
		a.path = ""
	}
}

// maxKeyLen bounds object keys held in memory (attachment names, versions).
const maxKeyLen = 1024

// ReadDocument reads a PUT body. The attachment's data, if any, is decoded
// into a temp file in dir; on any error nothing is left behind. Errors are
// fault.Invalid for a malformed document, fault.TooLarge past a limit; others
// come from reading r or writing dir.
func ReadDocument(r io.Reader, dir string, lim Limits) (doc *Document, err error) {
	def := DefaultLimits()
	if lim.MaxBody <= 0 {
		lim.MaxBody = def.MaxBody
	}
	if lim.MaxMetadata <= 0 {
		lim.MaxMetadata = def.MaxMetadata
	}
	s := &streamScanner{br: bufio.NewReaderSize(&capReader{r: r, left: lim.MaxBody}, 64<<10), budget: lim.MaxMetadata}
	doc = &Document{}
	defer func() {
		if err != nil {
			doc.Attachment.Discard()
			doc = nil
		}
	}()
	var raw bytes.Buffer
	err = s.object(func(key string) error {
		if key == "_attachments" {
			return s.attachments(doc, dir)
		}
		raw.Reset()
		if err := s.capture(&raw); err != nil {
			return err
		}
		if !json.Valid(raw.Bytes()) {
			return errSyntax
		}
		var err error
		switch key {
		case "_id":
			err = json.Unmarshal(raw.Bytes(), &doc.ID)
		case "name":
			err = json.Unmarshal(raw.Bytes(), &doc.Name)
		case "dist-tags":
			doc.DistTags = nil
			err = json.Unmarshal(raw.Bytes(), &doc.DistTags)
		case "versions":
			doc.Versions = nil
			err = json.Unmarshal(raw.Bytes(), &doc.Versions)
		}
		if err != nil {
			return errorf(fault.Invalid, "invalid %q in the document: %v", key, err)
		}
		return nil
	})
	if err != nil {
		return doc, err
	}
	// Nothing but white space may follow the document.
	if c, err := s.skipWS(); err == nil {
		return doc, errorf(fault.Invalid, "unexpected %q after the document", c)
	} else if !errors.Is(err, errEOF) {
		return doc, err
	}
	return doc, nil
}

// attachments reads the _attachments object. Attachments without data
// (CouchDB stubs) are ignored; a second one with data is refused.
func (s *streamScanner) attachments(doc *Document, dir string) error {
	if c, err := s.skipWS(); err != nil {
		return err
	} else if c == 'n' {
		var raw bytes.Buffer
		return s.capture(&raw) // null
	}
	return s.object(func(name string) error {
		a := &Attachment{Name: name, Declared: -1}
		err := s.object(func(key string) error {
			switch key {
			case "data":
				if a.path != "" {
					return errorf(fault.Invalid, "attachment %q has data twice", name)
				}
				if doc.Attachment != nil {
					return errorf(fault.Invalid, "a publish carries one tarball; %q is a second attachment (provenance bundles are not supported)", name)
				}
				return s.data(a, dir)
			case "length":
				var raw bytes.Buffer
				if err := s.capture(&raw); err != nil {
					return err
				}
				if json.Unmarshal(raw.Bytes(), &a.Declared) != nil || a.Declared < 0 {
					return errorf(fault.Invalid, "attachment %q: invalid length %s", name, raw.Bytes())
				}
				return nil
			}
			var raw bytes.Buffer
			if err := s.capture(&raw); err != nil {
				return err
			}
			if !json.Valid(raw.Bytes()) {
				return errSyntax
			}
			return nil
		})
		if a.path != "" {
			// Handed over even on error, so that ReadDocument removes it.
			doc.Attachment = a
		}
		return err
	})
}

// data decodes the base64 string value at the scanner into a temp file in
// dir, hashing it.
func (s *streamScanner) data(a *Attachment, dir string) (err error) {
	if c, err := s.skipWS(); err != nil {
		return err
	} else if c != '"' {
		return errorf(fault.Invalid, "attachment %q: data is not a string", a.Name)
	}
	s.br.ReadByte()
	f, err := os.CreateTemp(dir, "npm-publish-*")
	if err != nil {
		return fmt.Errorf("cannot create temp file for %s: %w", a.Name, err)
	}
	a.path = f.Name()
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("cannot write %s: %w", a.Name, cerr)
		}
	}()
	h256, h512, h1 := sha256.New(), sha512.New(), sha1.New()
	str := &stringReader{s: s}
	w := &countWriter{w: io.MultiWriter(f, h256, h512, h1)}
	if _, err := io.Copy(w, base64.NewDecoder(base64.StdEncoding, str)); err != nil {
		return dataError(a, err)
	}
	// The decoder stops at the padding: anything but line breaks after it
	// is not base64.
	var rest [512]byte
	for !str.done {
		n, err := str.Read(rest[:])
		if len(bytes.Trim(rest[:n], "\r\n")) > 0 {
			return errorf(fault.Invalid, "attachment %q: data continues after the base64 padding", a.Name)
		}
		if err != nil && err != io.EOF {
			return dataError(a, err)
		}
	}
	a.Size = w.n
	a.SHA256 = digest.NewDigest(digest.SHA256, h256)
	a.SHA512, a.SHA1 = h512.Sum(nil), h1.Sum(nil)
	return nil
}

func dataError(a *Attachment, err error) error {
	var ce base64.CorruptInputError
	if errors.As(err, &ce) {
		return errorf(fault.Invalid, "attachment %q: data is not valid base64", a.Name)
	}
	return err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// capReader fails with ErrTooLarge once more than left bytes were read.
// Its errors are sticky: bufio.Reader hands an error out once, and a body
// that failed must not go on as if it had not.
type capReader struct {
	r    io.Reader
	left int64
	err  error
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		c.err = ErrTooLarge
		return 0, c.err
	}
	c.err = err
	return n, err
}

var (
	errSyntax = fault.New(fault.Invalid, "the document is not valid JSON")
	// errEOF ends a document that is cut short (and, after it, the scan).
	errEOF = fault.New(fault.Invalid, "the document ends early")
)

// maxDepth bounds nesting in captured values (json.Valid has its own, but
// the scanner counts before it).
const maxDepth = 1000

// streamScanner reads JSON from a buffered stream. Values it keeps count
// against budget.
type streamScanner struct {
	br     *bufio.Reader
	budget int64
	depth  int
}

func (s *streamScanner) readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errEOF
	}
	return err
}

// skipWS skips white space and peeks at the next byte.
func (s *streamScanner) skipWS() (byte, error) {
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			return 0, s.readErr(err)
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		s.br.UnreadByte()
		return c, nil
	}
}

// object reads an object, calling member with each key while the scanner
// is at its value; member must consume the value.
func (s *streamScanner) object(member func(key string) error) error {
	c, err := s.skipWS()
	if err != nil {
		return err
	}
	if c != '{' {
		return errSyntax
	}
	s.br.ReadByte()
	if s.depth++; s.depth > maxDepth {
		return errSyntax
	}
	defer func() { s.depth-- }()
	if c, err = s.skipWS(); err != nil {
		return err
	} else if c == '}' {
		s.br.ReadByte()
		return nil
	}
	for {
		key, err := s.key()
		if err != nil {
			return err
		}
		if c, err := s.skipWS(); err != nil {
			return err
		} else if c != ':' {
			return errSyntax
		}
		s.br.ReadByte()
		if err := member(key); err != nil {
			return err
		}
		c, err := s.skipWS()
		if err != nil {
			return err
		}
		s.br.ReadByte()
		switch c {
		case ',':
		case '}':
			return nil
		default:
			return errSyntax
		}
	}
}

// key reads a string of at most maxKeyLen raw bytes.
func (s *streamScanner) key() (string, error) {
	if c, err := s.skipWS(); err != nil {
		return "", err
	} else if c != '"' {
		return "", errSyntax
	}
	var raw bytes.Buffer
	if err := s.copyString(&raw, maxKeyLen); err != nil {
		return "", err
	}
	var k string
	if err := json.Unmarshal(raw.Bytes(), &k); err != nil {
		return "", errSyntax
	}
	return k, nil
}

// take counts n bytes against the metadata budget.
func (s *streamScanner) take(n int) error {
	s.budget -= int64(n)
	if s.budget < 0 {
		return fault.New(fault.TooLarge, "the package metadata (all but the tarball) is larger than this registry accepts")
	}
	return nil
}

// copyString copies the raw string at the scanner, quotes included, to w,
// failing past max bytes (and the budget).
func (s *streamScanner) copyString(w *bytes.Buffer, max int) error {
	c, err := s.br.ReadByte()
	if err != nil {
		return s.readErr(err)
	}
	if c != '"' {
		return errSyntax
	}
	w.WriteByte(c)
	start := w.Len()
	for {
		chunk, err := s.br.ReadSlice('"')
		if err != nil && err != bufio.ErrBufferFull {
			return s.readErr(err)
		}
		if w.Len()-start+len(chunk) > max {
			return fault.New(fault.TooLarge, "a string in the document is too long")
		}
		if err := s.take(len(chunk)); err != nil {
			return err
		}
		w.Write(chunk)
		if err == bufio.ErrBufferFull {
			continue
		}
		// The quote ends the string unless an odd number of backslashes
		// precedes it.
		b := w.Bytes()
		n := 0
		for i := len(b) - 2; i >= start && b[i] == '\\'; i-- {
			n++
		}
		if n%2 == 0 {
			return nil
		}
	}
}

// capture copies one value of any type to w, raw. The caller checks it
// with json.Valid or decodes it.
func (s *streamScanner) capture(w *bytes.Buffer) error {
	c, err := s.skipWS()
	if err != nil {
		return err
	}
	switch {
	case c == '"':
		return s.copyString(w, int(min(s.budget, 1<<30)))
	case c == '{' || c == '[':
		depth := 0
		for {
			c, err := s.br.ReadByte()
			if err != nil {
				return s.readErr(err)
			}
			switch c {
			case '"':
				s.br.UnreadByte()
				if err := s.copyString(w, int(min(s.budget, 1<<30))); err != nil {
					return err
				}
				continue
			case '{', '[':
				if depth++; depth > maxDepth {
					return errSyntax
				}
			case '}', ']':
				depth--
			}
			if err := s.take(1); err != nil {
				return err
			}
			w.WriteByte(c)
			if depth == 0 {
				return nil
			}
		}
	default:
		for n := 0; ; n++ {
			c, err := s.br.ReadByte()
			if err != nil {
				if err == io.EOF && n > 0 {
					return nil
				}
				return s.readErr(err)
			}
			if !scalarByte(c) {
				s.br.UnreadByte()
				if n == 0 {
					return errSyntax
				}
				return nil
			}
			if err := s.take(1); err != nil {
				return err
			}
			w.WriteByte(c)
		}
	}
}

func scalarByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'E'
}

// stringReader reads the contents of the JSON string the scanner is in
// (past its opening quote), unescaped, up to its closing quote.
type stringReader struct {
	s    *streamScanner
	done bool
}

func (r *stringReader) Read(p []byte) (int, error) {
	br := r.s.br
	n := 0
	for n < len(p) && !r.done {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				// The error comes back on the next call (capReader).
				if n > 0 {
					return n, nil
				}
				return 0, r.s.readErr(err)
			}
		}
		// Copy the plain run, then deal with the byte that ended it.
		buf, _ := br.Peek(min(br.Buffered(), len(p)-n))
		i := 0
		for i < len(buf) && buf[i] != '"' && buf[i] != '\\' && buf[i] >= 0x20 {
			i++
		}
		copy(p[n:], buf[:i])
		n += i
		br.Discard(i)
		if i == len(buf) {
			continue
		}
		c, _ := br.ReadByte()
		switch {
		case c == '"':
			r.done = true
		case c < 0x20:
			return n, errSyntax
		default: // a backslash
			e, err := br.ReadByte()
			if err != nil {
				return n, r.s.readErr(err)
			}
			switch e {
			case '"', '\\', '/':
				p[n] = e
			case 'n':
				p[n] = '\n'
			case 'r':
				p[n] = '\r'
			case 't', 'b', 'f':
				p[n] = ' ' // never base64: the decoder refuses it
			case 'u':
				var hex [4]byte
				if _, err := io.ReadFull(br, hex[:]); err != nil {
					return n, r.s.readErr(err)
				}
				var v rune
				for _, h := range hex {
					d, ok := hexVal(h)
					if !ok {
						return n, errSyntax
					}
					v = v<<4 | rune(d)
				}
				if v >= 0x80 {
					v = ' ' // not base64 either
				}
				p[n] = byte(v)
			default:
				return n, errSyntax
			}
			n++
		}
	}
	if n == 0 && r.done {
		return 0, io.EOF
	}
	return n, nil
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
