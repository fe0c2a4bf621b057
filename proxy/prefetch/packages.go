package prefetch

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"strings"
)

// Caps of the documents read to find the files.
const (
	maxPackument = 256 << 20 // the largest npm packuments run to tens of MB
	maxPage      = 64 << 20  // a PyPI project page, a cargo index file
	maxPOM       = 4 << 20
)

// npm resolves the range (or dist-tag, "" for latest) in the packument
// to the highest version it matches, then fetches its tarball. npm asks
// for the full packument or the abbreviated one depending on the
// command: both are fetched.
func (f *fetcher) npm(it Item) error {
	doc := "/npm/" + strings.Replace(it.Name, "/", "%2f", 1)
	var pack struct {
		DistTags map[string]string `json:"dist-tags"`
		Versions map[string]struct {
			Dist struct {
				Tarball string `json:"tarball"`
			} `json:"dist"`
		} `json:"versions"`
	}
	if err := f.decode(doc, maxPackument, &pack, "application/json"); err != nil {
		return err
	}
	if err := f.fetch(doc, "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"); err != nil {
		return err
	}
	ver, ok := pack.DistTags[it.Ref]
	if it.Ref == "" {
		ver, ok = pack.DistTags["latest"]
	}
	if !ok && isTag(it.Ref) {
		return fmt.Errorf("%s: %s has no dist-tag %q: %w", it.Text, it.Name, it.Ref, errNoVersion)
	}
	if !ok {
		r, err := parseRange(it.Ref)
		if err != nil {
			return fmt.Errorf("%s: %v", it.Text, err)
		}
		vs := make([]string, 0, len(pack.Versions))
		for v := range pack.Versions {
			vs = append(vs, v)
		}
		if ver, ok = highest(r, vs); !ok {
			return fmt.Errorf("%s: no version of %s matches %q: %w", it.Text, it.Name, it.Ref, errNoVersion)
		}
	}
	v, ok := pack.Versions[ver]
	if !ok || v.Dist.Tarball == "" {
		return fmt.Errorf("%s: the packument of %s lists no tarball of %s: %w", it.Text, it.Name, ver, errNoVersion)
	}
	p, err := f.localPath(v.Dist.Tarball, "/npm/")
	if err != nil {
		return err
	}
	return f.fetch(p)
}

// localPath is the path (and query) of a link nora wrote, which must lead
// below prefix: the runner asks only nora. The path of [server]
// public_url, which a reverse proxy strips, comes off first.
func (f *fetcher) localPath(link, prefix string) (string, error) {
	u, err := url.Parse(link)
	p := ""
	if err == nil {
		p = u.EscapedPath()
		if u.Host != "" && f.o.LinkPrefix != "" {
			p = strings.TrimPrefix(p, f.o.LinkPrefix)
		}
	}
	if err != nil || !strings.HasPrefix(p, prefix) || strings.Contains(u.Path, "/../") {
		return "", fmt.Errorf("nora's link %q does not lead below %s", link, prefix)
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p, nil
}

// pypi reads the project's page (PEP 691 JSON) and fetches every file of
// the version: wheels and sdist.
func (f *fetcher) pypi(it Item) error {
	page := "/simple/" + normalize(it.Name) + "/"
	var doc struct {
		Files []struct {
			Filename     string `json:"filename"`
			URL          string `json:"url"`
			CoreMetadata any    `json:"core-metadata"`
			DistInfo     any    `json:"dist-info-metadata"`
		} `json:"files"`
	}
	if err := f.decode(page, maxPage, &doc, "application/vnd.pypi.simple.v1+json"); err != nil {
		return err
	}
	base := &url.URL{Path: page}
	n := 0
	for _, file := range doc.Files {
		if !fileOf(file.Filename, it.Name, it.Ref) {
			continue
		}
		u, err := base.Parse(file.URL)
		if err != nil {
			return fmt.Errorf("the page of %s links %q: %v", it.Name, file.URL, err)
		}
		u.Fragment = ""
		p, err := f.localPath(u.String(), "/")
		if err != nil {
			return err
		}
		if err := f.fetch(p); err != nil {
			return err
		}
		// pip reads a wheel's metadata file (PEP 658) where the page
		// offers one, before the wheel.
		if hasMetadata(file.CoreMetadata) || hasMetadata(file.DistInfo) {
			path, _, _ := strings.Cut(p, "?")
			if err := f.fetch(path + ".metadata"); err != nil {
				return err
			}
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s: %s has no files of version %s: %w", it.Text, it.Name, it.Ref, errNoVersion)
	}
	return nil
}

// normalize is a PyPI project name as PEP 503 compares them.
func normalize(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r == '-' || r == '_' || r == '.' {
			dash = true
			continue
		}
		if dash && b.Len() > 0 {
			b.WriteByte('-')
		}
		dash = false
		b.WriteRune(r)
	}
	return b.String()
}

// fileOf tells whether filename is a distribution of project's version:
// a wheel "name-ver-...whl" or an sdist "name-ver.tar.gz" / ".zip".
func fileOf(filename, project, ver string) bool {
	var name, v string
	switch {
	case strings.HasSuffix(filename, ".whl"):
		parts := strings.Split(filename, "-")
		if len(parts) < 5 {
			return false
		}
		name, v = parts[0], parts[1]
	case strings.HasSuffix(filename, ".tar.gz"), strings.HasSuffix(filename, ".zip"):
		stem := strings.TrimSuffix(strings.TrimSuffix(filename, ".tar.gz"), ".zip")
		i := strings.LastIndexByte(stem, '-')
		if i <= 0 {
			return false
		}
		name, v = stem[:i], stem[i+1:]
	default:
		return false
	}
	return normalize(name) == normalize(project) && strings.EqualFold(v, ver)
}

// maven fetches the .pom, then the .jar unless the pom's packaging is pom.
func (f *fetcher) maven(it Item) error {
	group, artifact, _ := strings.Cut(it.Name, ":")
	dir := "/maven2/" + strings.ReplaceAll(group, ".", "/") + "/" + artifact + "/" + it.Ref + "/"
	file := artifact + "-" + it.Ref
	b, err := f.read(dir+file+".pom", maxPOM)
	if err != nil {
		return err
	}
	var pom struct {
		Packaging string `xml:"packaging"`
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	if err := d.Decode(&pom); err != nil {
		return fmt.Errorf("the pom of %s is not XML: %v", it.Text, err)
	}
	if strings.TrimSpace(pom.Packaging) == "pom" {
		return nil
	}
	return f.fetch(dir + file + ".jar")
}

// crate reads the crate's sparse index file, checks the version is in
// it, then downloads the .crate.
func (f *fetcher) crate(it Item) error {
	b, err := f.read("/cargo/index/"+indexPath(it.Name), maxPage)
	if err != nil {
		return err
	}
	found := false
	for line := range bytes.Lines(b) {
		var e struct {
			Vers string `json:"vers"`
		}
		if json.Unmarshal(line, &e) == nil && e.Vers == it.Ref {
			found = true
			break
		}
	}
	if !found {
		return fmt.Errorf("%s: the index lists no version %s of %s: %w", it.Text, it.Ref, it.Name, errNoVersion)
	}
	return f.fetch("/cargo/api/v1/crates/" + it.Name + "/" + it.Ref + "/download")
}

// indexPath is where the sparse index keeps a crate: 1/a, 2/ab, 3/a/abc,
// ab/cd/abcd..., lower case.
func indexPath(name string) string {
	n := strings.ToLower(name)
	switch len(n) {
	case 1:
		return "1/" + n
	case 2:
		return "2/" + n
	case 3:
		return "3/" + n[:1] + "/" + n
	}
	return n[:2] + "/" + n[2:4] + "/" + n
}

// hasMetadata reads PEP 691's core-metadata: true, or a dict of hashes.
func hasMetadata(v any) bool {
	switch m := v.(type) {
	case bool:
		return m
	case map[string]any:
		return true
	}
	return false
}
