package replicate

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"nora/internal/fault"
)

// OCI moves images (Format "docker") through the OCI distribution API:
// the manifest or index with all its platforms, every blob the target
// lacks (go-containerregistry asks for each, and mounts a blob from the
// source's repository name where the target has it), the tag, and the
// referrers: cosign-style tags (sha256-<hex>.sig, .att, .sbom) and what
// the source's referrers API lists.
type OCI struct{}

// Format implements Mover.
func (OCI) Format() string { return "docker" }

// referrerTag is a cosign-style tag of a manifest's signature,
// attestation or SBOM: it travels with the manifest it names.
var referrerTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}\.(sig|att|sbom)$`)

// List implements Mover through the source's catalog.
func (m OCI) List(ctx context.Context, src Endpoint, match func(name, version string) bool) ([]Item, error) {
	reg, err := registryOf(src)
	if err != nil {
		return nil, err
	}
	repos, err := remote.Catalog(ctx, reg, endpointOptions(ctx, src, nil)...)
	if err != nil {
		return nil, fault.Wrap(fault.Unavailable, err, "docker: the source's catalog (name the repositories in --match for a registry without one)")
	}
	return m.ListRepos(ctx, src, repos, match)
}

// ListRepos implements RepoLister: the matching tags of the named
// repositories.
func (OCI) ListRepos(ctx context.Context, src Endpoint, repos []string, match func(name, version string) bool) ([]Item, error) {
	var items []Item
	for _, r := range repos {
		repo, err := repoOf(src, r)
		if err != nil {
			return nil, err
		}
		tags, err := remote.List(repo, endpointOptions(ctx, src, nil)...)
		if err != nil {
			return nil, fault.Wrap(fault.Unavailable, err, "docker: tags of "+r)
		}
		for _, t := range tags {
			if !referrerTag.MatchString(t) && match(r, t) {
				items = append(items, Item{Format: "docker", Name: r, Version: t})
			}
		}
	}
	return items, nil
}

// Copy implements Mover.
func (OCI) Copy(ctx context.Context, src, dst Endpoint, it Item, dry bool, progress func(int64)) (Copied, error) {
	srcRepo, err := repoOf(src, it.Name)
	if err != nil {
		return Copied{}, err
	}
	dstRepo, err := repoOf(dst, it.Name)
	if err != nil {
		return Copied{}, err
	}
	c := &oneCopy{
		ctx: ctx, src: endpointOptions(ctx, src, nil), dry: dry,
		sent: &wireCounter{progress: progress},
	}
	c.base, c.auth = endpointAuth(dst)
	c.dst = endpointOptions(ctx, dst, c.sent)
	c.dstProbe = endpointOptions(ctx, dst, nil)
	d, err := c.manifest(srcRepo.Tag(it.Version), dstRepo.Tag(it.Version))
	if err != nil {
		return Copied{Bytes: c.bytes()}, err
	}
	if err := c.referrers(srcRepo, dstRepo, d); err != nil {
		return Copied{Bytes: c.bytes()}, err
	}
	return Copied{Bytes: c.bytes(), Skipped: !c.wrote}, nil
}

// oneCopy is the state of copying one item.
type oneCopy struct {
	ctx      context.Context
	base     http.RoundTripper // the target's
	auth     authn.Authenticator
	src, dst []remote.Option
	dstProbe []remote.Option // dst uncounted: reads are not sent bytes
	dry      bool
	sent     *wireCounter
	wouldBe  int64 // a dry run's bytes
	wrote    bool  // something was (or would be) written
}

func (c *oneCopy) bytes() int64 {
	if c.dry {
		return c.wouldBe
	}
	return c.sent.n.Load()
}

// manifest copies the manifest (or index) at from to to unless to holds
// the same digest, and returns its digest.
func (c *oneCopy) manifest(from, to name.Reference) (v1.Hash, error) {
	desc, err := remote.Get(from, c.src...)
	if err != nil {
		return v1.Hash{}, fault.Wrap(fault.Unavailable, err, "docker: read "+from.String())
	}
	have, err := remote.Head(to, c.dstProbe...)
	if err == nil && have.Digest == desc.Digest {
		return desc.Digest, nil
	}
	if err != nil && !isNotFound(err) {
		return v1.Hash{}, fault.Wrap(fault.Unavailable, err, "docker: check "+to.String())
	}
	c.wrote = true
	if c.dry {
		n, err := c.missing(desc, to.Context())
		c.wouldBe += n
		return desc.Digest, err
	}
	return desc.Digest, c.write(desc, to)
}

// write sends desc (an index with all its platforms, or an image) to to.
func (c *oneCopy) write(desc *remote.Descriptor, to name.Reference) error {
	var err error
	if desc.MediaType.IsIndex() {
		idx, ierr := desc.ImageIndex()
		if ierr != nil {
			return fault.Wrap(fault.BadUpstream, ierr, "docker: index "+desc.Digest.String())
		}
		err = remote.WriteIndex(to, idx, c.dst...)
	} else {
		img, ierr := desc.Image()
		if ierr != nil {
			return fault.Wrap(fault.BadUpstream, ierr, "docker: image "+desc.Digest.String())
		}
		err = remote.Write(to, img, c.dst...)
	}
	if err != nil {
		return fault.Wrap(writeKind(err), err, "docker: write "+to.String())
	}
	return nil
}

// referrers copies what refers to d: cosign-style tags, then the
// manifests the source's referrers API lists.
func (c *oneCopy) referrers(srcRepo, dstRepo name.Repository, d v1.Hash) error {
	tags, err := remote.List(srcRepo, c.src...)
	if err != nil {
		return fault.Wrap(fault.Unavailable, err, "docker: tags of "+srcRepo.RepositoryStr())
	}
	stem := "sha256-" + d.Hex + "."
	for _, t := range tags {
		if strings.HasPrefix(t, stem) && referrerTag.MatchString(t) {
			if _, err := c.manifest(srcRepo.Tag(t), dstRepo.Tag(t)); err != nil {
				return err
			}
		}
	}
	idx, err := remote.Referrers(srcRepo.Digest(d.String()), c.src...)
	if err != nil {
		return fault.Wrap(fault.Unavailable, err, "docker: referrers of "+d.String())
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fault.Wrap(fault.BadUpstream, err, "docker: referrers of "+d.String())
	}
	for _, r := range im.Manifests {
		if _, err := c.manifest(srcRepo.Digest(r.Digest.String()), dstRepo.Digest(r.Digest.String())); err != nil {
			return err
		}
	}
	return nil
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// writeKind classifies a refused write: the target's credentials lack
// push (Denied), or it failed.
func writeKind(err error) fault.Kind {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return fault.Denied
	}
	return fault.Unavailable
}

// registryOf is the registry at e.URL; plain http where the URL says so.
func registryOf(e Endpoint) (name.Registry, error) {
	u, err := url.Parse(e.URL)
	if err != nil || u.Host == "" {
		return name.Registry{}, fault.Newf(fault.Invalid, "replicate: %s: bad URL", e.Name)
	}
	var opts []name.Option
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(u.Host, opts...)
	if err != nil {
		return name.Registry{}, fault.Wrap(fault.Invalid, err, "replicate: "+e.Name+": bad URL")
	}
	return reg, nil
}

// repoOf is repository r (after e.Prefix) on e.
func repoOf(e Endpoint, r string) (name.Repository, error) {
	reg, err := registryOf(e)
	if err != nil {
		return name.Repository{}, err
	}
	repo, err := name.NewRepository(reg.Name() + "/" + e.Prefix + r)
	if err != nil {
		return name.Repository{}, fault.Wrap(fault.Invalid, err, "replicate: bad repository name "+e.Prefix+r)
	}
	repo.Registry = reg // keeps plain http
	return repo, nil
}

// endpointOptions are the remote options to reach e: its client's
// transport (counted by sent, if not nil) and its token.
func endpointOptions(ctx context.Context, e Endpoint, sent *wireCounter) []remote.Option {
	base, auth := endpointAuth(e)
	if sent != nil {
		base = &countingTransport{base: base, c: sent}
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(base), remote.WithAuth(auth)}
}

// endpointAuth is e's transport and credentials: a nora takes its API
// token as the password of a login (any user name).
func endpointAuth(e Endpoint) (http.RoundTripper, authn.Authenticator) {
	var base http.RoundTripper = http.DefaultTransport
	if e.Client != nil && e.Client.Transport != nil {
		base = e.Client.Transport
	}
	if e.Token == "" {
		return base, authn.Anonymous
	}
	return base, &authn.Basic{Username: "replicate", Password: e.Token}
}
