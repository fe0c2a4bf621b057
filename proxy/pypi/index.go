package pypi

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/url"
	"strings"

	hosted "nora/hosted/pypi"
)

// page is one project's simple index page, parsed from either
// representation, with file URLs resolved to absolute upstream URLs.
type page struct {
	apiVersion string // "1.0", "1.1" ...
	versions   []string
	files      []file
	byName     map[string]int // filename -> index in files
}

// file is one distribution file of a page.
type file struct {
	name           string
	url            string            // absolute upstream URL, no fragment
	hashes         map[string]string // algorithm -> lower-case hex
	requiresPython *string
	yanked         bool
	yankedReason   string
	metadata       bool              // PEP 658 core metadata available
	metadataHashes map[string]string // may be empty (declared as "true")
	gpgSig         *bool
	size           int64 // -1 unknown (PEP 700)
	uploadTime     string
}

// hashLen is the hex length of each hash PEP 503 names.
var hashLen = map[string]int{"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}

// hashPreference orders the hashes for the one fragment an HTML link has.
var hashPreference = []string{"sha256", "sha512", "sha384", "sha224", "sha1", "md5"}

var errBadPage = errors.New("not a simple index page")

// parsePage parses an upstream page, JSON (PEP 691) or HTML (PEP 503),
// told apart by its first byte rather than the Content-Type. pageURL
// resolves relative links. Files that cannot be served (no usable URL,
// malformed hash, unservable filename) are left out; a JSON page of an
// unsupported major API version, or a malformed JSON one, is an error.
func parsePage(body []byte, pageURL *url.URL) (*page, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n\ufeff")
	var p *page
	var err error
	if len(trimmed) > 0 && trimmed[0] == '{' {
		p, err = parseJSON(trimmed, pageURL)
	} else {
		p, err = parseHTML(body, pageURL)
	}
	if err != nil {
		return nil, err
	}
	return checkPage(p)
}

// checkPage refuses an unsupported API version and drops duplicate
// filenames (the first counts).
func checkPage(p *page) (*page, error) {
	if p.apiVersion == "" {
		p.apiVersion = "1.0"
	}
	major, _, _ := strings.Cut(p.apiVersion, ".")
	if major != "1" {
		return nil, fmt.Errorf("%w: unsupported api-version %q", errBadPage, p.apiVersion)
	}
	p.byName = make(map[string]int, len(p.files))
	kept := p.files[:0]
	for _, f := range p.files {
		if _, dup := p.byName[f.name]; dup {
			continue
		}
		p.byName[f.name] = len(kept)
		kept = append(kept, f)
	}
	p.files = kept
	return p, nil
}

// lookup returns the file called name.
func (p *page) lookup(name string) (file, bool) {
	i, ok := p.byName[name]
	if !ok {
		return file{}, false
	}
	return p.files[i], true
}

// resolveFile completes f from its raw link: absolute http(s) URL without
// fragment, a filename, valid hashes. ok=false drops the file.
func resolveFile(f *file, href string, pageURL *url.URL) bool {
	href = strings.TrimSpace(href)
	if href == "" {
		return false
	}
	u, err := pageURL.Parse(href)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return false
	}
	if u.Fragment != "" {
		alg, val, ok := strings.Cut(u.Fragment, "=")
		if ok && f.hashes[strings.ToLower(alg)] == "" {
			if f.hashes == nil {
				f.hashes = map[string]string{}
			}
			f.hashes[strings.ToLower(alg)] = val
		}
	}
	u.Fragment, u.RawFragment = "", ""
	f.url = u.String()
	if f.name == "" {
		last := u.EscapedPath()
		last = last[strings.LastIndexByte(last, '/')+1:]
		if f.name, err = url.PathUnescape(last); err != nil {
			return false
		}
	}
	if !hosted.ValidFilename(f.name) || strings.HasSuffix(f.name, ".metadata") {
		return false
	}
	var ok bool
	if f.hashes, ok = cleanHashes(f.hashes); !ok {
		return false
	}
	if f.metadataHashes, ok = cleanHashes(f.metadataHashes); !ok {
		f.metadata, f.metadataHashes = false, nil
	}
	return true
}

// cleanHashes lower-cases algorithms and hex, drops unknown algorithms and
// refuses a known one with a malformed value (such a file cannot be
// verified, so it is not offered).
func cleanHashes(in map[string]string) (map[string]string, bool) {
	if len(in) == 0 {
		return nil, true
	}
	out := make(map[string]string, len(in))
	for alg, v := range in {
		alg, v = strings.ToLower(alg), strings.ToLower(strings.TrimSpace(v))
		n, known := hashLen[alg]
		if !known {
			continue
		}
		if len(v) != n {
			return nil, false
		}
		if _, err := hex.DecodeString(v); err != nil {
			return nil, false
		}
		out[alg] = v
	}
	if len(out) == 0 {
		return nil, true
	}
	return out, true
}

// parseHashValue reads the "<alg>=<hex>" of data-core-metadata.
func parseHashValue(v string) (bool, map[string]string) {
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "", "false":
		return false, nil
	}
	alg, val, ok := strings.Cut(v, "=")
	if !ok {
		return false, nil
	}
	return true, map[string]string{alg: val}
}

// --- JSON (PEP 691, PEP 700) ---

type jsonPage struct {
	Meta struct {
		APIVersion string `json:"api-version"`
	} `json:"meta"`
	Name     string     `json:"name"`
	Files    []jsonFile `json:"files"`
	Versions []string   `json:"versions,omitempty"`
}

type jsonFile struct {
	Filename         string            `json:"filename"`
	URL              string            `json:"url"`
	Hashes           map[string]string `json:"hashes"`
	RequiresPython   *string           `json:"requires-python,omitempty"`
	Yanked           any               `json:"yanked,omitempty"`
	CoreMetadata     any               `json:"core-metadata,omitempty"`
	DistInfoMetadata any               `json:"dist-info-metadata,omitempty"`
	// PyPI's JSON has carried the HTML attribute's name by mistake.
	DataDistInfoMetadata any    `json:"data-dist-info-metadata,omitempty"`
	GPGSig               *bool  `json:"gpg-sig,omitempty"`
	Size                 *int64 `json:"size,omitempty"`
	UploadTime           string `json:"upload-time,omitempty"`
}

func parseJSON(b []byte, pageURL *url.URL) (*page, error) {
	var jp jsonPage
	if err := json.Unmarshal(b, &jp); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadPage, err)
	}
	if jp.Meta.APIVersion == "" {
		return nil, fmt.Errorf("%w: no meta.api-version", errBadPage)
	}
	p := &page{apiVersion: jp.Meta.APIVersion, versions: jp.Versions}
	for _, jf := range jp.Files {
		f := file{name: jf.Filename, hashes: jf.Hashes, requiresPython: jf.RequiresPython, gpgSig: jf.GPGSig, size: -1, uploadTime: jf.UploadTime}
		if f.name == "" {
			continue
		}
		switch y := jf.Yanked.(type) {
		case bool:
			f.yanked = y
		case string:
			f.yanked, f.yankedReason = true, y
		}
		md := jf.CoreMetadata
		if md == nil {
			md = jf.DistInfoMetadata
		}
		if md == nil {
			md = jf.DataDistInfoMetadata
		}
		switch m := md.(type) {
		case bool:
			f.metadata = m
		case map[string]any:
			f.metadata, f.metadataHashes = true, map[string]string{}
			for k, v := range m {
				if s, ok := v.(string); ok {
					f.metadataHashes[k] = s
				}
			}
		}
		if jf.Size != nil && *jf.Size >= 0 {
			f.size = *jf.Size
		}
		if resolveFile(&f, jf.URL, pageURL) {
			p.files = append(p.files, f)
		}
	}
	return p, nil
}

// --- rendering ---

// fileURL is where nora serves a file of project.
func fileURL(base, project, filename string) string {
	return base + "/simple/" + project + "/" + escapeSegment(filename)
}

// renderHTML writes p as a PEP 503 page whose links point at nora.
func renderHTML(p *page, base, project string) []byte {
	var b bytes.Buffer
	b.Grow(256 + len(p.files)*256)
	b.WriteString("<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"")
	b.WriteString(html.EscapeString(p.apiVersion))
	b.WriteString("\">\n    <title>Links for ")
	b.WriteString(project)
	b.WriteString("</title>\n  </head>\n  <body>\n    <h1>Links for ")
	b.WriteString(project)
	b.WriteString("</h1>\n")
	for _, f := range p.files {
		href := fileURL(base, project, f.name)
		for _, alg := range hashPreference {
			if v := f.hashes[alg]; v != "" {
				href += "#" + alg + "=" + v
				break
			}
		}
		b.WriteString(`    <a href="`)
		b.WriteString(html.EscapeString(href))
		b.WriteByte('"')
		if f.requiresPython != nil {
			attr(&b, "data-requires-python", *f.requiresPython)
		}
		if f.yanked {
			attr(&b, "data-yanked", f.yankedReason)
		}
		if f.metadata {
			v := "true"
			for _, alg := range hashPreference {
				if h := f.metadataHashes[alg]; h != "" {
					v = alg + "=" + h
					break
				}
			}
			// PEP 714's name, and PEP 658's for clients before it.
			attr(&b, "data-core-metadata", v)
			attr(&b, "data-dist-info-metadata", v)
		}
		if f.gpgSig != nil {
			attr(&b, "data-gpg-sig", fmt.Sprint(*f.gpgSig))
		}
		b.WriteByte('>')
		b.WriteString(html.EscapeString(f.name))
		b.WriteString("</a><br />\n")
	}
	b.WriteString("  </body>\n</html>\n")
	return b.Bytes()
}

func attr(b *bytes.Buffer, name, value string) {
	b.WriteByte(' ')
	b.WriteString(name)
	b.WriteString(`="`)
	b.WriteString(html.EscapeString(value))
	b.WriteByte('"')
}

// renderJSON writes p as a PEP 691 page whose links point at nora.
func renderJSON(p *page, base, project string) []byte {
	jp := jsonPage{Name: project, Files: make([]jsonFile, 0, len(p.files)), Versions: p.versions}
	jp.Meta.APIVersion = p.apiVersion
	for _, f := range p.files {
		hashes := f.hashes
		if hashes == nil {
			hashes = map[string]string{}
		}
		jf := jsonFile{
			Filename: f.name, URL: fileURL(base, project, f.name), Hashes: hashes,
			RequiresPython: f.requiresPython, GPGSig: f.gpgSig, UploadTime: f.uploadTime,
		}
		if f.yanked {
			jf.Yanked = true
			if f.yankedReason != "" {
				jf.Yanked = f.yankedReason
			}
		}
		if f.metadata {
			var md any = true
			if len(f.metadataHashes) > 0 {
				md = f.metadataHashes
			}
			// Only PEP 714's key: pip before 23.1 crashes on a
			// dict-valued dist-info-metadata, which is why PEP 714 renamed it.
			jf.CoreMetadata = md
		}
		if f.size >= 0 {
			size := f.size
			jf.Size = &size
		}
		jp.Files = append(jp.Files, jf)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(jp); err != nil {
		panic(fmt.Sprintf("pypi: cannot encode a page: %v", err)) // only plain types: unreachable
	}
	return b.Bytes()
}
