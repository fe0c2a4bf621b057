package npm

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"
)

// A packument can be tens of MB. It is never decoded into a tree: a small
// scanner walks its bytes to the only values nora cares about,
// versions.*.dist.{tarball,integrity,shasum}, and the tarball URLs are
// rewritten by splicing while the document streams out, so the document is
// in memory once.

// dist is what a packument says about one version's tarball.
type dist struct {
	version   string
	tarball   string // the upstream URL
	integrity string // SRI, "sha512-<base64>"
	shasum    string // sha1 hex
}

// rawDist is a versions.<v>.dist object as found in the document: spans of
// raw JSON strings, quotes included, decoded only when needed.
type rawDist struct {
	version   []byte
	tarballs  []span // every tarball value (usually one; a repeated key gives more)
	integrity span   // the last one; zero if absent
	shasum    span
}

type span struct{ start, end int }

var errSyntax = errors.New("malformed packument")

// checkPackument refuses a body that is not a JSON object before it is
// cached, so that the scanner only ever sees valid JSON.
func checkPackument(b []byte) error {
	if !json.Valid(b) {
		return errSyntax
	}
	s := scanner{b: b}
	s.ws()
	if s.peek() != '{' {
		return errors.New("packument is not a JSON object")
	}
	return nil
}

// eachDist calls fn for every versions.<v>.dist object of doc, in document
// order, until fn returns false. fn must not keep d.
func eachDist(doc []byte, fn func(d *rawDist) bool) error {
	s := scanner{b: doc}
	stop := false
	d := &rawDist{}
	return s.object(func(key []byte) error {
		if string(key) != "versions" || stop || s.peekValue() != '{' {
			return s.skip()
		}
		return s.object(func(version []byte) error {
			if stop || s.peekValue() != '{' {
				return s.skip()
			}
			*d = rawDist{version: version, tarballs: d.tarballs[:0]}
			err := s.object(func(key []byte) error {
				if string(key) != "dist" || s.peekValue() != '{' {
					return s.skip()
				}
				return s.object(func(key []byte) error {
					if s.peekValue() != '"' {
						return s.skip()
					}
					start := s.i
					end, _, err := s.strEnd()
					if err != nil {
						return err
					}
					s.i = end
					switch sp := (span{start, end}); string(key) {
					case "tarball":
						d.tarballs = append(d.tarballs, sp)
					case "integrity":
						d.integrity = sp
					case "shasum":
						d.shasum = sp
					}
					return nil
				})
			})
			if err != nil {
				return err
			}
			if !fn(d) {
				stop = true
			}
			return nil
		})
	})
}

// str decodes the JSON string at sp ("" for the zero span).
func (sp span) str(doc []byte) string {
	if sp.end-sp.start < 2 {
		return ""
	}
	raw := doc[sp.start:sp.end]
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v
}

// tarball is the upstream URL of d: the last tarball value, as JSON.parse
// would see it.
func (d *rawDist) tarball(doc []byte) string {
	if len(d.tarballs) == 0 {
		return ""
	}
	return d.tarballs[len(d.tarballs)-1].str(doc)
}

// tarballFile is the file name a tarball URL ends in, "" if it is not one
// nora can serve under /npm/<name>/-/<file>.
func tarballFile(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if _, rest, ok := strings.Cut(u, "://"); ok && strings.IndexByte(rest, '/') < 0 {
		return "" // a bare host, no path
	}
	f := u[strings.LastIndexByte(u, '/')+1:]
	if strings.IndexByte(f, '%') >= 0 {
		var err error
		if f, err = url.PathUnescape(f); err != nil {
			return ""
		}
	}
	if !validFile(f) {
		return ""
	}
	return f
}

// findDist returns the dist of the version whose tarball is file.
func findDist(doc []byte, file string) (*dist, error) {
	var found *dist
	err := eachDist(doc, func(d *rawDist) bool {
		u := d.tarball(doc)
		if tarballFile(u) != file {
			return true
		}
		found = &dist{version: string(d.version), tarball: u, integrity: d.integrity.str(doc), shasum: d.shasum.str(doc)}
		return false
	})
	return found, err
}

// edit replaces doc[start:end] by repl.
type edit struct {
	start, end int
	repl       []byte
}

// rewriteTarballs plans the rewrite of every tarball URL in doc to
// <base>/npm/<name>/-/<file>. URLs whose file name nora could not serve
// are left alone. It returns the edits in document order and the length of
// the rewritten document.
func rewriteTarballs(doc []byte, base, name string) ([]edit, int64, error) {
	var edits []edit
	size := int64(len(doc))
	// The prefix as an open JSON string; file names need no escaping.
	open := jsonString(base + "/npm/" + name + "/-/")
	open = open[:len(open)-1]
	var arena []byte
	err := eachDist(doc, func(d *rawDist) bool {
		f := tarballFile(d.tarball(doc))
		if f == "" {
			return true
		}
		if need := len(open) + len(f) + 1; cap(arena)-len(arena) < need {
			// Chunks double up to 64 KiB: small documents stay cheap, large
			// ones take few allocations.
			arena = make([]byte, 0, max(min(2*cap(arena), 64<<10), 1<<10, need))
		}
		n := len(arena)
		arena = append(append(append(arena, open...), f...), '"')
		repl := arena[n:len(arena):len(arena)]
		for _, sp := range d.tarballs {
			edits = append(edits, edit{sp.start, sp.end, repl})
			size += int64(len(repl) - (sp.end - sp.start))
		}
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	return edits, size, nil
}

func jsonString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// splicer reads doc with the edits applied.
type splicer struct {
	doc   []byte
	edits []edit
	pos   int    // next byte of doc
	repl  []byte // rest of the replacement being read
}

func (s *splicer) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(s.repl) > 0 {
			c := copy(p[n:], s.repl)
			s.repl = s.repl[c:]
			n += c
			continue
		}
		next := len(s.doc)
		if len(s.edits) > 0 {
			next = s.edits[0].start
		}
		if s.pos == next && len(s.edits) > 0 {
			s.repl, s.pos = s.edits[0].repl, s.edits[0].end
			s.edits = s.edits[1:]
			continue
		}
		if s.pos >= len(s.doc) {
			break
		}
		c := copy(p[n:], s.doc[s.pos:next])
		s.pos += c
		n += c
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// scanner walks JSON bytes. It is lenient: fed anything, it returns an
// error or walks on, but never panics or reads out of bounds.
type scanner struct {
	b     []byte
	i     int
	depth int
}

const maxDepth = 1000

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// peekValue skips white space and returns the first byte of the value.
func (s *scanner) peekValue() byte {
	s.ws()
	return s.peek()
}

// object walks an object, calling member with each key while positioned at
// its value; member must consume the value.
func (s *scanner) object(member func(key []byte) error) error {
	s.ws()
	if s.peek() != '{' {
		return errSyntax
	}
	if s.depth++; s.depth > maxDepth {
		return errSyntax
	}
	defer func() { s.depth-- }()
	s.i++
	if s.peekValue() == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if s.peek() != '"' {
			return errSyntax
		}
		key, err := s.key()
		if err != nil {
			return err
		}
		if s.peekValue() != ':' {
			return errSyntax
		}
		s.i++
		s.ws()
		if err := member(key); err != nil {
			return err
		}
		switch s.peekValue() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errSyntax
		}
	}
}

// key reads a string: its raw bytes if it has no escapes, else decoded.
func (s *scanner) key() ([]byte, error) {
	start := s.i
	end, escaped, err := s.strEnd()
	if err != nil {
		return nil, err
	}
	s.i = end
	if !escaped {
		return s.b[start+1 : end-1], nil
	}
	var v string
	if err := json.Unmarshal(s.b[start:end], &v); err != nil {
		return nil, errSyntax
	}
	return []byte(v), nil
}

// strEnd finds the end (past the closing quote) of the string at s.i.
func (s *scanner) strEnd() (end int, escaped bool, err error) {
	if s.peek() != '"' {
		return 0, false, errSyntax
	}
	for j := s.i + 1; j < len(s.b); j++ {
		switch s.b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped, nil
		}
	}
	return 0, false, errSyntax
}

// skip consumes one value of any type without decoding it.
func (s *scanner) skip() error {
	s.ws()
	switch c := s.peek(); {
	case c == '"':
		end, _, err := s.strEnd()
		s.i = end
		return err
	case c == '{' || c == '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				end, _, err := s.strEnd()
				if err != nil {
					return err
				}
				s.i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return nil
				}
			}
			s.i++
		}
		return errSyntax
	case c == 0:
		return errSyntax
	default:
		start := s.i
		for s.i < len(s.b) && scalarByte(s.b[s.i]) {
			s.i++
		}
		if s.i == start {
			return errSyntax
		}
		return nil
	}
}

func scalarByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'E'
}
