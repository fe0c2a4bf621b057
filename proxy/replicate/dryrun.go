package replicate

import (
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"nora/internal/fault"
)

// missing is what writing desc to repo would send: its manifests and the
// blobs repo lacks (a HEAD for each, as a write asks).
func (c *oneCopy) missing(desc *remote.Descriptor, repo name.Repository) (int64, error) {
	blobs, size, err := blobsOf(desc)
	if err != nil {
		return 0, err
	}
	rt, err := c.probeTransport(repo)
	if err != nil {
		return 0, err
	}
	for _, b := range blobs {
		u := repo.Registry.Scheme() + "://" + repo.RegistryStr() + "/v2/" + repo.RepositoryStr() + "/blobs/" + b.Digest.String()
		req, err := http.NewRequestWithContext(c.ctx, http.MethodHead, u, nil)
		if err != nil {
			return 0, err
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return 0, fault.Wrap(fault.Unavailable, err, "docker: check blob "+b.Digest.String())
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			size += b.Size
		}
	}
	return size, nil
}

// blobsOf lists the config and layers of desc (of every platform of an
// index) and adds up the manifests' sizes.
func blobsOf(desc *remote.Descriptor) ([]v1.Descriptor, int64, error) {
	size := desc.Size
	var imgs []v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, 0, fault.Wrap(fault.BadUpstream, err, "docker: index "+desc.Digest.String())
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, 0, fault.Wrap(fault.BadUpstream, err, "docker: index "+desc.Digest.String())
		}
		for _, m := range im.Manifests {
			img, err := idx.Image(m.Digest)
			if err != nil {
				return nil, 0, fault.Wrap(fault.BadUpstream, err, "docker: image "+m.Digest.String())
			}
			size += m.Size
			imgs = append(imgs, img)
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			return nil, 0, fault.Wrap(fault.BadUpstream, err, "docker: image "+desc.Digest.String())
		}
		imgs = append(imgs, img)
	}
	var blobs []v1.Descriptor
	for _, img := range imgs {
		m, err := img.Manifest()
		if err != nil {
			return nil, 0, fault.Wrap(fault.BadUpstream, err, "docker: manifest")
		}
		blobs = append(blobs, m.Config)
		blobs = append(blobs, m.Layers...)
	}
	return blobs, size, nil
}

// probeTransport is an authorized transport that may pull from repo.
func (c *oneCopy) probeTransport(repo name.Repository) (http.RoundTripper, error) {
	rt, err := transport.NewWithContext(c.ctx, repo.Registry, c.auth, c.base, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, fault.Wrap(fault.Unavailable, err, "docker: log in to "+repo.RegistryStr())
	}
	return rt, nil
}
