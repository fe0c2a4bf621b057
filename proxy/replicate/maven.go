package replicate

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"

	"nora/internal/fault"
)

// mavenMover copies hosted Maven versions as mvn deploy sends them: a PUT
// of each file, then of its .sha1 and .md5, the .pom last, then the
// maven-metadata.xml. The .pom on the target is what says a version is
// there, so a copy cut off before it is sent again whole. Of a SNAPSHOT,
// the latest build is copied: the files its snapshot metadata names.
type mavenMover struct{}

// Maven is the Mover of hosted Maven artifacts.
func Maven() Mover { return mavenMover{} }

func (mavenMover) Format() string { return "maven" }

func (mavenMover) List(ctx context.Context, src Endpoint, match func(name, version string) bool) ([]Item, error) {
	return pkgListHosted(ctx, src, "maven", match)
}

// mavenClassifiers are the files besides the main artifact a version is
// looked for with: nora lists no directory, so a version's files are
// found by name.
var mavenClassifiers = []string{"-sources.jar", "-javadoc.jar", "-tests.jar", ".module"}

// mavenDir is the repository directory of group:artifact's version.
func mavenDir(name, version string) (dir, artifact string, ok bool) {
	g, a, ok := strings.Cut(name, ":")
	if !ok || g == "" || a == "" {
		return "", "", false
	}
	return "/maven2/" + strings.ReplaceAll(g, ".", "/") + "/" + a + "/" + version + "/", a, true
}

// mavenHas reports whether e serves path (a HEAD answered 200).
func mavenHas(ctx context.Context, e Endpoint, path string) (bool, error) {
	resp, err := pkgDo(ctx, e, http.MethodHead, path, nil, 0, nil, path)
	if err == nil {
		resp.Body.Close()
		return true, nil
	}
	switch fault.KindOf(err) {
	case fault.NotFound, fault.Unavailable, fault.BadUpstream:
		// Not hosted there, and its upstream has it not (or is away).
		return false, nil
	}
	return false, err
}

func (mavenMover) Copy(ctx context.Context, src, dst Endpoint, it Item, dry bool, progress func(int64)) (Copied, error) {
	if err := pkgNoPrefix(dst); err != nil {
		return Copied{}, pkgItemError(it, err)
	}
	dir, a, ok := mavenDir(it.Name, it.Version)
	if !ok {
		return Copied{}, pkgItemError(it, fault.Newf(fault.Invalid, "not a group:artifact name"))
	}
	plan := mavenRelease
	if strings.HasSuffix(it.Version, "SNAPSHOT") {
		plan = mavenSnapshot
	}
	files, held, err := plan(ctx, src, dst, it, dir, a)
	if err != nil || held {
		return Copied{Skipped: held}, pkgItemError(it, err)
	}
	if dry {
		return Copied{Bytes: it.Size}, nil
	}
	var c Copied
	for _, f := range files {
		if err := mavenDeploy(ctx, src, dst, f, &c.Bytes, progress); err != nil {
			return c, pkgItemError(it, err)
		}
	}
	if err := mavenMetadata(ctx, src, dst, dir, strings.HasSuffix(it.Version, "SNAPSHOT"), &c.Bytes, progress); err != nil {
		return c, pkgItemError(it, err)
	}
	return c, nil
}

// mavenRelease plans the copy of a release: the paths of its files, the
// .pom last; held if the target has its .pom.
func mavenRelease(ctx context.Context, src, dst Endpoint, it Item, dir, a string) ([]string, bool, error) {
	pomName := a + "-" + it.Version + ".pom"
	if has, err := mavenHas(ctx, dst, dir+pomName); err != nil || has {
		return nil, has, err
	}
	pom, err := pkgOpen(ctx, src, dir+pomName, "the file "+pomName)
	if err != nil {
		return nil, false, err
	}
	defer pom.Close()
	files, err := mavenFiles(ctx, src, dir, a+"-"+it.Version, pom)
	if err == nil && it.Size > 0 {
		err = mavenComplete(it, pom.Size, files)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, dir+f.name)
	}
	return append(paths, dir+pomName), false, err
}

// mavenSnapshotDoc is the part of a SNAPSHOT version's maven-metadata.xml
// a copy reads: the latest build's file of each classifier and extension.
type mavenSnapshotDoc struct {
	Versions []struct {
		Classifier string `xml:"classifier"`
		Extension  string `xml:"extension"`
		Value      string `xml:"value"`
	} `xml:"versioning>snapshotVersions>snapshotVersion"`
}

// mavenBuild reads the snapshot metadata of dir on e (nil if e has none)
// and returns its files' names, the .pom last.
func mavenBuild(ctx context.Context, e Endpoint, dir, a string) ([]string, error) {
	resp, err := pkgDo(ctx, e, http.MethodGet, dir+"maven-metadata.xml", nil, 0, nil, "the snapshot metadata")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var doc mavenSnapshotDoc
	if err := xml.NewDecoder(io.LimitReader(resp.Body, maxPkgDoc)).Decode(&doc); err != nil {
		return nil, fault.Wrap(fault.BadUpstream, err, "cannot read the snapshot metadata")
	}
	var names []string
	pom := ""
	for _, v := range doc.Versions {
		n := a + "-" + v.Value
		if v.Classifier != "" {
			n += "-" + v.Classifier
		}
		n += "." + v.Extension
		if v.Classifier == "" && v.Extension == "pom" {
			pom = n
			continue
		}
		names = append(names, n)
	}
	if pom == "" {
		return nil, fault.Newf(fault.BadUpstream, "the snapshot metadata names no pom")
	}
	return append(names, pom), nil
}

// mavenSnapshot plans the copy of a SNAPSHOT version: its latest build's
// files as the source's snapshot metadata names them, the .pom last; held
// if the target's latest build has that .pom.
func mavenSnapshot(ctx context.Context, src, dst Endpoint, it Item, dir, a string) ([]string, bool, error) {
	names, err := mavenBuild(ctx, src, dir, a)
	if err != nil {
		return nil, false, err
	}
	pom := names[len(names)-1]
	have, err := mavenBuild(ctx, dst, dir, a)
	switch fault.KindOf(err) {
	case fault.NotFound, fault.Unavailable, fault.BadUpstream:
		have, err = nil, nil
	}
	if err != nil || len(have) > 0 && have[len(have)-1] == pom {
		return nil, err == nil, err
	}
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = dir + n
	}
	return paths, false, nil
}

// mavenFile is a file of a version other than its .pom.
type mavenFile struct {
	name string
	size int64
}

// mavenFiles finds the files of a version (base "lib-1.0") besides the
// .pom on src: the main artifact that the pom's packaging names, and the
// usual classifier files.
func mavenFiles(ctx context.Context, src Endpoint, dir, base string, pom io.Reader) ([]mavenFile, error) {
	var p struct {
		Packaging string `xml:"packaging"`
	}
	if err := xml.NewDecoder(io.LimitReader(pom, maxPkgDoc)).Decode(&p); err != nil {
		return nil, fault.Wrap(fault.BadUpstream, err, "cannot read the pom")
	}
	names := []string{}
	switch p.Packaging {
	case "pom":
	case "", "jar", "bundle", "maven-plugin", "ejb":
		names = append(names, base+".jar")
	default:
		names = append(names, base+"."+p.Packaging)
	}
	for _, c := range mavenClassifiers {
		names = append(names, base+c)
	}
	var out []mavenFile
	for _, n := range names {
		resp, err := pkgDo(ctx, src, http.MethodHead, dir+n, nil, 0, nil, "the file "+n)
		if errors.Is(err, fault.NotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		resp.Body.Close()
		out = append(out, mavenFile{name: n, size: resp.ContentLength})
	}
	return out, nil
}

// mavenComplete refuses a version whose files found by name are not all
// the bytes the source lists for it: files of other classifiers would be
// left behind.
func mavenComplete(it Item, pomSize int64, files []mavenFile) error {
	total := pomSize
	for _, f := range files {
		total += f.size
	}
	if total != it.Size {
		return fault.Newf(fault.Invalid, "the source holds %d bytes of this version, its files found by name %d: "+
			"files of classifiers other than sources, javadoc and tests are not replicated yet", it.Size, total)
	}
	return nil
}

// mavenDeploy copies the file at path from src to dst, then its .sha1
// and .md5 as src serves them.
func mavenDeploy(ctx context.Context, src, dst Endpoint, path string, sent *int64, progress func(int64)) error {
	for _, p := range []string{path, path + ".sha1", path + ".md5"} {
		if err := mavenCopyFile(ctx, src, dst, p, sent, progress); err != nil {
			return err
		}
	}
	return nil
}

// mavenMetadata PUTs the maven-metadata.xml of the artifact (and of the
// version, for a SNAPSHOT) with its .sha1, as mvn deploy does after the
// files. The target answers from what it holds; it reads a plugin group's
// prefixes from it.
func mavenMetadata(ctx context.Context, src, dst Endpoint, dir string, snapshot bool, sent *int64, progress func(int64)) error {
	dirs := []string{dir[:strings.LastIndexByte(dir[:len(dir)-1], '/')+1]}
	if snapshot {
		dirs = append([]string{dir}, dirs...)
	}
	for _, d := range dirs {
		for _, n := range []string{"maven-metadata.xml", "maven-metadata.xml.sha1"} {
			if err := mavenCopyFile(ctx, src, dst, d+n, sent, progress); err != nil {
				return err
			}
		}
	}
	return nil
}

// mavenCopyFile copies the file at path from src to dst.
func mavenCopyFile(ctx context.Context, src, dst Endpoint, path string, sent *int64, progress func(int64)) error {
	f, err := pkgOpen(ctx, src, path, path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pkgSend(ctx, dst, http.MethodPut, path, f, f.Size, nil, "the deploy of "+path, sent, progress)
}
