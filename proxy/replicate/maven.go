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

// mavenMover copies hosted Maven release versions as mvn deploy sends
// them: a PUT of each file, then of its .sha1 and .md5, the .pom last and
// then the artifact's maven-metadata.xml. The .pom on the target is what
// says a version is there, so a copy cut off before it is sent again whole.
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
	dir, a, ok := mavenDir(it.Name, it.Version)
	if !ok {
		return Copied{}, pkgItemError(it, fault.Newf(fault.Invalid, "not a group:artifact name"))
	}
	if strings.HasSuffix(it.Version, "-SNAPSHOT") {
		return Copied{}, pkgItemError(it, fault.Newf(fault.Invalid, "SNAPSHOT versions are not replicated yet"))
	}
	pomName := a + "-" + it.Version + ".pom"
	if has, err := mavenHas(ctx, dst, dir+pomName); err != nil || has {
		if err != nil {
			return Copied{}, pkgItemError(it, err)
		}
		return Copied{Skipped: true}, nil
	}
	if dry {
		return Copied{Bytes: it.Size}, nil
	}
	pom, err := pkgSpool(ctx, src, dir+pomName, "the file "+pomName)
	if err != nil {
		return Copied{}, pkgItemError(it, err)
	}
	defer pom.Close()
	files, err := mavenFiles(ctx, src, dir, a+"-"+it.Version, pom)
	if err == nil && it.Size > 0 {
		err = mavenComplete(it, pom.Size, files)
	}
	if err != nil {
		return Copied{}, pkgItemError(it, err)
	}
	var c Copied
	for _, f := range files {
		if err := mavenDeploy(ctx, src, dst, dir, f.name, nil, &c.Bytes, progress); err != nil {
			return c, pkgItemError(it, err)
		}
	}
	if err := mavenDeploy(ctx, src, dst, dir, pomName, pom, &c.Bytes, progress); err != nil {
		return c, pkgItemError(it, err)
	}
	if err := mavenMetadata(ctx, src, dst, dir, &c.Bytes, progress); err != nil {
		return c, pkgItemError(it, err)
	}
	return c, nil
}

// mavenFile is a file of a version other than its .pom.
type mavenFile struct {
	name string
	size int64
}

// mavenFiles finds the files of a version (base "lib-1.0") besides the
// .pom on src: the main artifact that the pom's packaging names, and the
// usual classifier files.
func mavenFiles(ctx context.Context, src Endpoint, dir, base string, pom *pkgSpooled) ([]mavenFile, error) {
	var p struct {
		Packaging string `xml:"packaging"`
	}
	err := xml.NewDecoder(io.LimitReader(pom, maxPkgDoc)).Decode(&p)
	if _, serr := pom.Seek(0, io.SeekStart); err == nil && serr != nil {
		err = serr
	}
	if err != nil {
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

// mavenDeploy PUTs the file name of dir to dst, from body or else fetched
// from src, then its .sha1 and .md5 as src serves them.
func mavenDeploy(ctx context.Context, src, dst Endpoint, dir, name string, body *pkgSpooled, sent *int64, progress func(int64)) error {
	if body == nil {
		f, err := pkgSpool(ctx, src, dir+name, "the file "+name)
		if err != nil {
			return err
		}
		defer f.Close()
		body = f
	}
	err := pkgSend(ctx, dst, http.MethodPut, dir+name, body, body.Size, nil, "the deploy of "+name, sent, progress)
	if err != nil {
		return err
	}
	for _, sum := range []string{".sha1", ".md5"} {
		if err := mavenCopySmall(ctx, src, dst, dir+name+sum, sent, progress); err != nil {
			return err
		}
	}
	return nil
}

// mavenMetadata PUTs the artifact's maven-metadata.xml and its .sha1 as
// mvn deploy does after the files (the target answers from what it holds;
// it reads a plugin group's prefixes from it).
func mavenMetadata(ctx context.Context, src, dst Endpoint, dir string, sent *int64, progress func(int64)) error {
	artifactDir := dir[:strings.LastIndexByte(dir[:len(dir)-1], '/')+1]
	for _, n := range []string{"maven-metadata.xml", "maven-metadata.xml.sha1"} {
		if err := mavenCopySmall(ctx, src, dst, artifactDir+n, sent, progress); err != nil {
			return err
		}
	}
	return nil
}

// mavenCopySmall copies a small file (a checksum, metadata) from src to
// dst at the same path.
func mavenCopySmall(ctx context.Context, src, dst Endpoint, path string, sent *int64, progress func(int64)) error {
	f, err := pkgSpool(ctx, src, path, path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pkgSend(ctx, dst, http.MethodPut, path, f, f.Size, nil, "the deploy of "+path, sent, progress)
}
