package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The OCI clients speak through go-containerregistry, as crane does; its
// own retries are off (one step): the retrier below it has the policy.
func (c *client) remote(ctx context.Context, auth bool) []remote.Option {
	o := []remote.Option{remote.WithContext(ctx), remote.WithTransport(c.g.http.Transport),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1})}
	if auth {
		o = append(o, remote.WithAuth(&authn.Basic{Username: c.g.target.User, Password: c.g.target.Password}))
	}
	return o
}

func (c *client) ref(s string) (name.Reference, error) {
	return name.ParseReference(strings.TrimPrefix(strings.TrimPrefix(c.g.target.Base, "http://"), "https://")+"/"+s, name.Insecure)
}

// resolve pulls the image ref names (manifest, config, layers) and
// returns its digest.
func (c *client) resolve(ctx context.Context, s string) (string, error) {
	ref, err := c.ref(s)
	if err != nil {
		return "", err
	}
	img, err := remote.Image(ref, c.remote(ctx, false)...)
	if err != nil {
		return "", err
	}
	if err := readImage(img); err != nil {
		return "", err
	}
	d, err := img.Digest()
	return d.String(), err
}

// readImage reads the config and every layer; go-containerregistry checks
// each against its digest as it reads.
func readImage(img v1.Image) error {
	if _, err := img.RawConfigFile(); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return wrapVerify(err)
		}
	}
	return nil
}

// wrapVerify marks go-containerregistry's digest and size checks as
// wrong bytes.
func wrapVerify(err error) error {
	if strings.Contains(err.Error(), "error verifying") {
		return fmt.Errorf("%w: %v", errWrongBytes, err)
	}
	return err
}

func (c *client) pullImage(ctx context.Context, im Image) error {
	d, err := c.resolve(ctx, im.Ref)
	if err == nil && im.Digest != "" && d != im.Digest {
		err = fmt.Errorf("%s is %s, want %s: %w", im.Ref, d, im.Digest, errWrongBytes)
	}
	return err
}

func pullTag(ctx context.Context, c *client) error {
	return c.pullImage(ctx, pickOne(c, c.g.images))
}

func pullDigest(ctx context.Context, c *client) error {
	im := pickOne(c, c.g.images)
	repo, _, _ := strings.Cut(im.Ref, ":")
	return c.pullImage(ctx, Image{Ref: repo + "@" + im.Digest, Digest: im.Digest})
}

// pullPlatform pulls a multi-arch index, then one platform's image, as a
// docker client on that platform does.
func pullPlatform(ctx context.Context, c *client) error {
	s := pickOne(c, c.g.target.Content.Indexes)
	ms, err := c.platforms(ctx, s)
	if err != nil {
		return err
	}
	repo, _, _ := strings.Cut(s, ":")
	m := pickOne(c, ms)
	return c.pullImage(ctx, Image{Ref: repo + "@" + m, Digest: m})
}

// pullPlatforms pulls the index s and every platform's image.
func (c *client) pullPlatforms(ctx context.Context, s string) error {
	ms, err := c.platforms(ctx, s)
	if err != nil {
		return err
	}
	repo, _, _ := strings.Cut(s, ":")
	for _, m := range ms {
		if err := c.pullImage(ctx, Image{Ref: repo + "@" + m, Digest: m}); err != nil {
			return err
		}
	}
	return nil
}

// platforms fetches the index s and lists its manifests' digests.
func (c *client) platforms(ctx context.Context, s string) ([]string, error) {
	ref, err := c.ref(s)
	if err != nil {
		return nil, err
	}
	idx, err := remote.Index(ref, c.remote(ctx, false)...)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(im.Manifests) == 0 {
		return nil, fmt.Errorf("%s: an index without manifests: %w", s, errWrongBytes)
	}
	var ds []string
	for _, m := range im.Manifests {
		ds = append(ds, m.Digest.String())
	}
	return ds, nil
}

func pullCold(ctx context.Context, c *client) error {
	im, err := c.g.target.Cold.Image(ctx)
	if err != nil {
		return fmt.Errorf("cannot make a cold image: %w", err)
	}
	return c.pullImage(ctx, im)
}

// push pushes a new small image (its blobs, then its manifest) to a
// hosted name under soak/.
func push(ctx context.Context, c *client) error {
	img, err := random.Image(2048, 2)
	if err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	s := "soak/push-" + c.unique() + ":v1"
	ref, err := c.ref(s)
	if err != nil {
		return err
	}
	im := Image{Ref: s, Digest: d.String()}
	c.g.ledger.pending(im)
	if err := remote.Write(ref, img, c.remote(ctx, true)...); err != nil {
		return err
	}
	c.g.ledger.pushed(c, im)
	return nil
}

// manifestCompleteOrAbsent checks a push that may have been cut by a
// kill: its tag is unknown, or names the whole image.
func (c *client) manifestCompleteOrAbsent(ctx context.Context, im Image) error {
	ref, err := c.ref(im.Ref)
	if err != nil {
		return err
	}
	img, err := remote.Image(ref, c.remote(ctx, false)...)
	if status(err) == 404 {
		return nil
	}
	if err != nil {
		return err
	}
	if err := readImage(img); err != nil {
		return fmt.Errorf("%s: the manifest is there, the image is not whole: %w", im.Ref, err)
	}
	if d, _ := img.Digest(); d.String() != im.Digest {
		return fmt.Errorf("%s is %s, pushed %s: %w", im.Ref, d, im.Digest, errWrongBytes)
	}
	return nil
}
