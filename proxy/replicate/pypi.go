package replicate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	hostedpypi "nora/hosted/pypi"
	"nora/internal/fault"
)

// pypiMover copies hosted PyPI releases file by file as twine uploads
// them: a multipart POST /simple/ per file (the legacy upload API). The
// target reads each file's metadata from the file itself.
type pypiMover struct{}

// PyPI is the Mover of hosted PyPI projects.
func PyPI() Mover { return pypiMover{} }

func (pypiMover) Format() string { return "pypi" }

func (pypiMover) List(ctx context.Context, src Endpoint, match func(name, version string) bool) ([]Item, error) {
	return pkgListHosted(ctx, src, "pypi", match)
}

// pypiFile is a file of a project page (PEP 691 JSON).
type pypiFile struct {
	Filename       string            `json:"filename"`
	URL            string            `json:"url"`
	Hashes         map[string]string `json:"hashes"`
	RequiresPython *string           `json:"requires-python"`
}

// pypiFiles reads the files of project name on e (none if e has no such
// project), and the page's URL that file links are relative to.
func pypiFiles(ctx context.Context, e Endpoint, name string) ([]pypiFile, *url.URL, error) {
	path := "/simple/" + url.PathEscape(name) + "/"
	var page struct {
		Files []pypiFile `json:"files"`
	}
	err := pkgJSON(ctx, e, path, "application/vnd.pypi.simple.v1+json", "the project page of "+name, &page)
	if errors.Is(err, fault.NotFound) {
		return nil, nil, nil
	}
	base, perr := url.Parse(pkgURL(e, path))
	if err == nil {
		err = perr
	}
	return page.Files, base, err
}

// pypiVersion is the version a distribution file name carries:
// "{name}-{version}-...whl", "{name}-{version}.tar.gz" (a version has no
// dash; an old sdist's name may).
func pypiVersion(filename string) string {
	if stem, ok := strings.CutSuffix(filename, ".whl"); ok {
		if parts := strings.Split(stem, "-"); len(parts) >= 5 {
			return parts[1]
		}
		return ""
	}
	stem, ok := strings.CutSuffix(filename, ".tar.gz")
	if !ok {
		stem, _ = strings.CutSuffix(filename, ".zip")
	}
	return stem[strings.LastIndexByte(stem, '-')+1:]
}

// pypiSameVersion reports whether a and b spell one version: a file name
// carries the normal form, the release may have been uploaded otherwise.
func pypiSameVersion(a, b string) bool {
	na, okA := hostedpypi.NormalizeVersion(a)
	nb, okB := hostedpypi.NormalizeVersion(b)
	return a == b || okA && okB && na == nb
}

func (pypiMover) Copy(ctx context.Context, src, dst Endpoint, it Item, dry bool, progress func(int64)) (Copied, error) {
	if err := pkgNoPrefix(dst); err != nil {
		return Copied{}, pkgItemError(it, err)
	}
	files, base, err := pypiFiles(ctx, src, it.Name)
	if err != nil {
		return Copied{}, pkgItemError(it, err)
	}
	var want []pypiFile
	for _, f := range files {
		if pypiSameVersion(pypiVersion(f.Filename), it.Version) {
			want = append(want, f)
		}
	}
	if len(want) == 0 {
		return Copied{}, pkgItemError(it, fault.Newf(fault.NotFound, "%s lists no file of this version", src.Name))
	}
	// A target whose upstream cannot tell about a project it does not
	// host answers 503: it holds none of the files.
	have, _, err := pypiFiles(ctx, dst, it.Name)
	if errors.Is(err, fault.Unavailable) {
		have, err = nil, nil
	}
	if err != nil {
		return Copied{}, pkgItemError(it, err)
	}
	// A file the target holds is not sent again: a run cut off between
	// the wheel and the sdist is completed by the next one.
	want = slicesDeleteHeld(want, have)
	if len(want) == 0 {
		return Copied{Skipped: true}, nil
	}
	var c Copied
	for _, f := range want {
		if dry {
			continue
		}
		if err := pypiUpload(ctx, src, dst, it, f, base, &c.Bytes, progress); err != nil {
			return c, pkgItemError(it, err)
		}
	}
	if dry {
		c.Bytes = it.Size
	}
	return c, nil
}

// slicesDeleteHeld drops from want the files have names.
func slicesDeleteHeld(want, have []pypiFile) []pypiFile {
	held := map[string]bool{}
	for _, f := range have {
		held[f.Filename] = true
	}
	var out []pypiFile
	for _, f := range want {
		if !held[f.Filename] {
			out = append(out, f)
		}
	}
	return out
}

// pypiUpload fetches f from src and uploads it to dst as twine does.
func pypiUpload(ctx context.Context, src, dst Endpoint, it Item, f pypiFile, base *url.URL, sent *int64, progress func(int64)) error {
	ref, err := url.Parse(f.URL)
	if err != nil {
		return fault.Wrap(fault.BadUpstream, err, "invalid link to "+f.Filename)
	}
	ref = base.ResolveReference(ref)
	ref.Fragment = ""
	file, err := pkgOpen(ctx, src, ref.RequestURI(), "the file "+f.Filename)
	if err != nil {
		return err
	}
	defer file.Close()
	filetype, pyversion := "sdist", "source"
	if stem, ok := strings.CutSuffix(f.Filename, ".whl"); ok {
		parts := strings.Split(stem, "-")
		filetype, pyversion = "bdist_wheel", parts[len(parts)-3]
	}
	fields := [][2]string{{":action", "file_upload"}, {"protocol_version", "1"}, {"name", it.Name},
		{"version", it.Version}, {"filetype", filetype}, {"pyversion", pyversion}, {"sha256_digest", f.Hashes["sha256"]}}
	if f.RequiresPython != nil {
		fields = append(fields, [2]string{"requires_python", *f.RequiresPython})
	}
	// The form's head and tail are small; the file streams between them.
	var head, tail bytes.Buffer
	sw := &switchWriter{w: &head}
	mw := multipart.NewWriter(sw)
	for _, kv := range fields {
		if err := mw.WriteField(kv[0], kv[1]); err != nil {
			return fault.Wrap(fault.Internal, err, "cannot build the upload form")
		}
	}
	if _, err := mw.CreateFormFile("content", f.Filename); err != nil {
		return fault.Wrap(fault.Internal, err, "cannot build the upload form")
	}
	sw.w = &tail
	mw.Close()
	body := io.MultiReader(&head, file, &tail)
	size := int64(head.Len()) + file.Size + int64(tail.Len())
	return pkgSend(ctx, dst, http.MethodPost, "/simple/", body, size,
		map[string]string{"Content-Type": mw.FormDataContentType()}, "the upload of "+f.Filename, sent, progress)
}

// switchWriter writes to w, which can be changed between writes.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }
