package replicate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"nora/internal/fault"
)

// npmMover copies hosted npm versions as npm publish sends them: one PUT
// /npm/<name> of a document carrying the version's manifest and its
// tarball in base64 under _attachments.
type npmMover struct{}

// NPM is the Mover of hosted npm packages.
func NPM() Mover { return npmMover{} }

func (npmMover) Format() string { return "npm" }

func (npmMover) List(ctx context.Context, src Endpoint, match func(name, version string) bool) ([]Item, error) {
	return pkgListHosted(ctx, src, "npm", match)
}

// npmDoc is the part of a full npmDoc a copy reads.
type npmDoc struct {
	DistTags map[string]string          `json:"dist-tags"`
	Versions map[string]json.RawMessage `json:"versions"`
}

// npmPackument reads the full npmDoc of name from e (nil if e has no
// such package).
func npmPackument(ctx context.Context, e Endpoint, name string) (*npmDoc, error) {
	var p npmDoc
	err := pkgJSON(ctx, e, "/npm/"+pkgEscape(name), "application/json", "the npmDoc of "+name, &p)
	if errors.Is(err, fault.NotFound) {
		return nil, nil
	}
	return &p, err
}

func (npmMover) Copy(ctx context.Context, src, dst Endpoint, it Item, dry bool, progress func(int64)) (Copied, error) {
	if err := pkgNoPrefix(dst); err != nil {
		return Copied{}, pkgItemError(it, err)
	}
	have, err := npmPackument(ctx, dst, it.Name)
	// A target whose upstream cannot tell about a package it does not
	// host answers 503: it holds no version of it.
	if errors.Is(err, fault.Unavailable) {
		have, err = nil, nil
	}
	if err != nil {
		return Copied{}, pkgItemError(it, err)
	}
	if have != nil && have.Versions[it.Version] != nil {
		return Copied{Skipped: true}, nil
	}
	if dry {
		return Copied{Bytes: it.Size}, nil
	}
	p, err := npmPackument(ctx, src, it.Name)
	if err == nil && (p == nil || p.Versions[it.Version] == nil) {
		err = fault.Newf(fault.NotFound, "%s has no such version", src.Name)
	}
	if err != nil {
		return Copied{}, pkgItemError(it, err)
	}
	file := it.Name[strings.LastIndexByte(it.Name, '/')+1:] + "-" + it.Version + ".tgz"
	tgz, err := pkgOpen(ctx, src, "/npm/"+pkgEscape(it.Name)+"/-/"+file, "the tarball "+file)
	if err != nil {
		return Copied{}, pkgItemError(it, err)
	}
	defer tgz.Close()
	var c Copied
	err = npmPublish(ctx, dst, it, p, file, tgz, &c.Bytes, progress)
	if err != nil {
		return c, pkgItemError(it, err)
	}
	return c, nil
}

// npmPublish PUTs the publish document of it (manifest from p, the
// tarball tgz as its attachment) to dst, streaming the base64.
func npmPublish(ctx context.Context, dst Endpoint, it Item, p *npmDoc, file string, tgz *pkgBody, sent *int64, progress func(int64)) error {
	tags := map[string]string{}
	for tag, v := range p.DistTags {
		if v == it.Version {
			tags[tag] = v
		}
	}
	head := map[string]any{"_id": it.Name, "name": it.Name, "dist-tags": tags,
		"versions": map[string]json.RawMessage{it.Version: p.Versions[it.Version]}}
	hb, err := json.Marshal(head)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "cannot encode the publish document")
	}
	fb, _ := json.Marshal(file)
	// The document's last member is the attachment, whose data streams.
	prefix := string(hb[:len(hb)-1]) + `,"_attachments":{` + string(fb) +
		`:{"content_type":"application/octet-stream","length":` + strconv.FormatInt(tgz.Size, 10) + `,"data":"`
	const suffix = `"}}}`
	size := int64(len(prefix)) + int64(base64.StdEncoding.EncodedLen(int(tgz.Size))) + int64(len(suffix))
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		enc := base64.NewEncoder(base64.StdEncoding, pw)
		_, err := io.WriteString(pw, prefix)
		if err == nil {
			_, err = io.Copy(enc, tgz)
		}
		if err == nil {
			err = enc.Close()
		}
		if err == nil {
			_, err = io.WriteString(pw, suffix)
		}
		pw.CloseWithError(err)
	}()
	// The encoder stops at a closed pipe; it is done with tgz before the
	// caller closes it.
	defer func() { pr.Close(); <-done }()
	return pkgSend(ctx, dst, http.MethodPut, "/npm/"+pkgEscape(it.Name), pr, size,
		map[string]string{"Content-Type": "application/json"}, "the publish of "+file, sent, progress)
}
