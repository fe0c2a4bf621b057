package npm

import (
	_ "crypto/sha512" // sha384 and sha512 digests for dist.integrity
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/internal/fault"
	"nora/proxy/httpx"
	"nora/proxy/pull"
)

// tarball implements GET /npm/<name>/-/<file>.tgz of a proxied package
// (Serve answers hosted ones from hosted state). A tarball once verified
// and stored is served without asking anyone (it is immutable), so it works
// while the upstream is down; otherwise the packument says where the
// upstream keeps it and what its digest is, and the fill checks that digest
// before anything is committed.
func (h *Handler) tarball(ctx *fasthttp.RequestCtx, name, file string) {
	httpx.SetLogInfo(ctx, name, "")
	key := tarballKey(name, file)
	obj, err := h.cache.OpenNamed(ctx, key)
	if err != nil {
		if !errors.Is(err, cache.ErrNotFound) {
			h.deps.Log.Warn("cannot open cached tarball", "key", key, "err", err)
		}
		obj, err = h.fetchTarball(ctx, name, file, key)
		if err != nil {
			h.pullError(ctx, err, "tarball "+name+"/-/"+file)
			return
		}
	} else {
		h.cache.CountResult("hit")
	}
	httpx.SetLogInfo(ctx, name, obj.Result)
	httpx.ServeContent(ctx, obj.Body, obj.Size, "application/octet-stream")
}

func (h *Handler) fetchTarball(ctx *fasthttp.RequestCtx, name, file, key string) (*cache.Object, error) {
	d, err := h.lookupDist(ctx, name, file)
	if err != nil {
		return nil, err
	}
	want, err := expectOf(d)
	if err != nil {
		return nil, fault.Wrap(fault.BadUpstream, err, fmt.Sprintf("packument of %s: version %s", name, d.version))
	}
	return pull.Artifact(ctx, h.deps, pull.ArtifactRequest{
		Name: key, Upstream: h.up, URL: d.tarball, Expect: want, Offline: h.offline(), Tenant: httpx.TenantOf(ctx),
	})
}

// lookupDist finds the version whose tarball is file: in the abbreviated
// packument (what npm install has just fetched, so usually cached), else in
// the full one.
func (h *Handler) lookupDist(ctx *fasthttp.RequestCtx, name, file string) (*dist, error) {
	var firstErr error
	for _, abbreviated := range []bool{true, false} {
		doc, err := h.doc(ctx, name, abbreviated)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		d, err := findDist(doc.Body, file)
		if err != nil {
			return nil, fault.Wrap(fault.BadUpstream, err, "cannot read packument of "+name)
		}
		if d != nil {
			return d, nil
		}
	}
	if firstErr == nil || fault.KindOf(firstErr) == fault.NotFound {
		return nil, fault.New(fault.NotFound, "no version of "+name+" has tarball "+file)
	}
	return nil, firstErr
}

// expectOf is what the fill of d's tarball must verify: the strongest
// sha2 digest of dist.integrity and the sha1 of dist.shasum.
func expectOf(d *dist) (cache.Expect, error) {
	want := cache.Expect{Size: -1}
	dg, sha1, err := parseIntegrity(d.integrity)
	if err != nil {
		return want, err
	}
	want.Digest = dg
	switch {
	case d.shasum != "":
		if !isHex(d.shasum, 40) {
			return want, fmt.Errorf("invalid dist.shasum %q", d.shasum)
		}
		want.SHA1 = strings.ToLower(d.shasum)
	case sha1 != "":
		want.SHA1 = sha1
	}
	return want, nil
}

// integrityAlgs are the SRI hash algorithms nora checks, strongest first,
// with their digest lengths.
var integrityAlgs = []struct {
	name string
	alg  digest.Algorithm
	size int
}{{"sha512", digest.SHA512, 64}, {"sha384", digest.SHA384, 48}, {"sha256", digest.SHA256, 32}}

// parseIntegrity reads an SRI string ("sha512-<base64> sha1-<base64>"):
// the strongest sha2 digest as a digest.Digest and any sha1 as hex.
// Unknown algorithms are ignored; a known one with a malformed value is an
// error.
func parseIntegrity(sri string) (digest.Digest, string, error) {
	best := len(integrityAlgs)
	var dg digest.Digest
	var sha1 string
	for _, tok := range strings.Fields(sri) {
		alg, val, ok := strings.Cut(tok, "-")
		if !ok {
			continue
		}
		val, _, _ = strings.Cut(val, "?") // SRI options
		size, rank := 0, -1
		switch alg {
		case "sha1":
			size = 20
		default:
			for i, a := range integrityAlgs {
				if a.name == alg {
					size, rank = a.size, i
				}
			}
		}
		if size == 0 {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(val)
		if err != nil {
			raw, err = base64.RawStdEncoding.DecodeString(val)
		}
		if err != nil || len(raw) != size {
			return "", "", fmt.Errorf("invalid %s in dist.integrity", alg)
		}
		if rank < 0 {
			sha1 = hex.EncodeToString(raw)
		} else if rank < best {
			best, dg = rank, digest.NewDigestFromEncoded(integrityAlgs[rank].alg, hex.EncodeToString(raw))
		}
	}
	return dg, sha1, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
