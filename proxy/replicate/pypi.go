package replicate

import (
	"bytes"
	"context"
	"encoding/json"
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
// target reads each file's metadata from the file itself. A file's yank
// (PEP 592) is set on the target as the source has it.
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
	Yanked         any               `json:"yanked"`
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
	send, yank := pypiPlan(want, have)
	switch {
	case len(send) == 0 && len(yank) == 0:
		return Copied{Skipped: true}, nil
	case dry && len(send) == 0:
		return Copied{}, nil
	case dry:
		return Copied{Bytes: it.Size}, nil
	}
	var c Copied
	for _, f := range send {
		if err := pypiUpload(ctx, src, dst, it, f, base, &c.Bytes, progress); err != nil {
			return c, pkgItemError(it, err)
		}
	}
	for _, f := range yank {
		if err := pypiYank(ctx, dst, it, f, &c.Bytes, progress); err != nil {
			return c, pkgItemError(it, err)
		}
	}
	return c, nil
}

// pypiYanked is a file's yank state on a project page: PEP 691 says
// false, or true or the reason.
func pypiYanked(f pypiFile) (bool, string) {
	switch y := f.Yanked.(type) {
	case bool:
		return y, ""
	case string:
		return true, y
	}
	return false, ""
}

// pypiPlan picks the files of want to send (the target has them not) and
// those whose yank state to set there (it differs from the source's, or
// the file is sent yanked).
func pypiPlan(want, have []pypiFile) (send, yank []pypiFile) {
	held := map[string]pypiFile{}
	for _, f := range have {
		held[f.Filename] = f
	}
	for _, f := range want {
		y, reason := pypiYanked(f)
		h, ok := held[f.Filename]
		if !ok {
			send = append(send, f)
			if y {
				yank = append(yank, f)
			}
			continue
		}
		if hy, hreason := pypiYanked(h); hy != y || hreason != reason {
			yank = append(yank, f)
		}
	}
	return send, yank
}

// pypiYank sets the yank state of the file f of it on dst as the source
// has it: POST /api/pypi/<project>/<version>/yank (the delete permission)
// or .../unyank (push).
func pypiYank(ctx context.Context, dst Endpoint, it Item, f pypiFile, sent *int64, progress func(int64)) error {
	y, reason := pypiYanked(f)
	action := "unyank"
	if y {
		action = "yank"
	}
	body, err := json.Marshal(map[string]string{"reason": reason, "filename": f.Filename})
	if err != nil {
		return fault.Wrap(fault.Internal, err, "cannot encode the "+action)
	}
	path := "/api/pypi/" + url.PathEscape(it.Name) + "/" + url.PathEscape(it.Version) + "/" + action
	return pkgSend(ctx, dst, http.MethodPost, path, bytes.NewReader(body), int64(len(body)),
		map[string]string{"Content-Type": "application/json"}, "the "+action+" of "+f.Filename, sent, progress)
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
