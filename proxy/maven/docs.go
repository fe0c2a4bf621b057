package maven

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/valyala/fasthttp"

	"nora/proxy/pull"
)

// maxDocBytes bounds a mutable document: maven-metadata.xml (the largest on
// public repositories are a few hundred KiB) or a non-unique SNAPSHOT file.
const maxDocBytes = 32 << 20

// serveDoc answers a mutable document (maven-metadata.xml, a non-unique
// SNAPSHOT file) or one of its checksums, which nora computes from the
// document it serves: the upstream's checksum file may already describe a
// newer document than the cached one.
func (h *Handler) serveDoc(ctx *fasthttp.RequestCtx, c context.Context, req request) {
	var doc *pull.Doc
	err := h.firstHit(func(u *upstreamRepo) error {
		d, err := h.deps.Docs.Get(c, h.docRequest(u, req.file))
		doc = d
		return err
	})
	if err != nil {
		h.fail(ctx, req, err)
		return
	}
	body, tag := doc.Body, doc.Digest.Encoded()
	if req.sum != "" {
		hh := newHash(req.sum)
		hh.Write(body)
		tag = hex.EncodeToString(hh.Sum(nil))
		body = []byte(tag)
	}
	sendText(ctx, req, body, tag, doc.Result, doc.Stale)
}

func (h *Handler) docRequest(u *upstreamRepo, path string) pull.DocRequest {
	r := pull.DocRequest{
		Key: docKey(u, path), Upstream: u.reg, URL: path, TTL: h.cfg.TTL.D(), NegativeTTL: h.cfg.NegativeTTL.D(),
		Offline: u.offline, MaxBytes: maxDocBytes,
	}
	if strings.HasSuffix(path, "/"+metadataName) {
		r.Check = checkMetadata
	}
	return r
}

// checkMetadata refuses a maven-metadata.xml that is not well-formed XML
// with a <metadata> root: an error page or a truncated body must not be
// cached for a TTL.
func checkMetadata(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	root := ""
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if root != "" {
					return errors.New("more than one root element")
				}
				root = t.Name.Local
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if root != "metadata" {
		return errors.New("root element is not <metadata>")
	}
	return nil
}
