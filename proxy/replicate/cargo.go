package replicate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	hostedcargo "nora/hosted/cargo"
	"nora/internal/fault"
)

// cargoMover copies hosted crate versions as cargo publish sends them:
// PUT /cargo/api/v1/crates/new with the framed body (the metadata's
// length and JSON, the .crate's length and bytes). The metadata is
// rebuilt from the source's index line, so dependencies and features are
// those the source indexes. A version yanked on the source is yanked on
// the target (and unyanked, if the source unyanked it since).
type cargoMover struct{}

// Cargo is the Mover of hosted crates.
func Cargo() Mover { return cargoMover{} }

func (cargoMover) Format() string { return "cargo" }

func (cargoMover) List(ctx context.Context, src Endpoint, match func(name, version string) bool) ([]Item, error) {
	return pkgListHosted(ctx, src, "cargo", match)
}

// cargoIndexPath is the sparse index path of a crate: "1/a", "2/ab",
// "3/a/abc", "ab/cd/abcd...".
func cargoIndexPath(name string) string {
	l := strings.ToLower(name)
	switch len(l) {
	case 1, 2:
		return "/cargo/index/" + string(rune('0'+len(l))) + "/" + l
	case 3:
		return "/cargo/index/3/" + l[:1] + "/" + l
	}
	return "/cargo/index/" + l[:2] + "/" + l[2:4] + "/" + l
}

// cargoVersion reads the index line of name's version vers on e (nil if
// e indexes no such version).
func cargoVersion(ctx context.Context, e Endpoint, name, vers string) (*hostedcargo.IndexEntry, error) {
	resp, err := pkgDo(ctx, e, http.MethodGet, cargoIndexPath(name), nil, 0, nil, "the index file of "+name)
	if errors.Is(err, fault.NotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, maxPkgDoc))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var en hostedcargo.IndexEntry
		if json.Unmarshal(sc.Bytes(), &en) == nil && en.Vers == vers {
			return &en, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fault.Wrap(fault.BadUpstream, err, "cannot read the index file of "+name)
	}
	return nil, nil
}

func (cargoMover) Copy(ctx context.Context, src, dst Endpoint, it Item, dry bool, progress func(int64)) (Copied, error) {
	if err := pkgNoPrefix(dst); err != nil {
		return Copied{}, pkgItemError(it, err)
	}
	en, err := cargoVersion(ctx, src, it.Name, it.Version)
	if err == nil && en == nil {
		err = fault.Newf(fault.NotFound, "%s does not index this version", src.Name)
	}
	if err != nil {
		return Copied{}, pkgItemError(it, err)
	}
	have, err := cargoVersion(ctx, dst, it.Name, it.Version)
	// A target whose upstream cannot tell about a crate it does not host
	// answers 503: it holds no version of it.
	if errors.Is(err, fault.Unavailable) {
		have, err = nil, nil
	}
	switch {
	case err != nil:
		return Copied{}, pkgItemError(it, err)
	case have != nil && have.Yanked == en.Yanked:
		return Copied{Skipped: true}, nil
	case dry && have != nil:
		return Copied{}, nil
	case dry:
		return Copied{Bytes: it.Size}, nil
	}
	var c Copied
	if have == nil {
		err = cargoPublish(ctx, src, dst, en, &c.Bytes, progress)
	}
	if err == nil && (have != nil || en.Yanked) {
		err = cargoYank(ctx, dst, en, &c.Bytes, progress)
	}
	return c, pkgItemError(it, err)
}

// cargoPublish publishes the version of index line en, its .crate
// fetched from src, on dst.
func cargoPublish(ctx context.Context, src, dst Endpoint, en *hostedcargo.IndexEntry, sent *int64, progress func(int64)) error {
	crate, err := pkgOpen(ctx, src, "/cargo/api/v1/crates/"+en.Name+"/"+en.Vers+"/download", "the .crate")
	if err != nil {
		return err
	}
	defer crate.Close()
	meta, err := json.Marshal(cargoMetadata(en))
	if err != nil {
		return fault.Wrap(fault.Internal, err, "cannot encode the publish metadata")
	}
	var head bytes.Buffer
	binary.Write(&head, binary.LittleEndian, uint32(len(meta)))
	head.Write(meta)
	binary.Write(&head, binary.LittleEndian, uint32(crate.Size))
	body := io.MultiReader(&head, crate)
	return pkgSend(ctx, dst, http.MethodPut, "/cargo/api/v1/crates/new", body, int64(head.Len())+crate.Size,
		nil, "the publish of "+en.Name+" "+en.Vers, sent, progress)
}

// cargoYank yanks the version on dst, or unyanks it, as en says (as
// cargo yank does: the yank needs the delete permission there).
func cargoYank(ctx context.Context, dst Endpoint, en *hostedcargo.IndexEntry, sent *int64, progress func(int64)) error {
	method, action := http.MethodDelete, "yank"
	if !en.Yanked {
		method, action = http.MethodPut, "unyank"
	}
	path := "/cargo/api/v1/crates/" + en.Name + "/" + en.Vers + "/" + action
	return pkgSend(ctx, dst, method, path, http.NoBody, 0, nil, "the "+action+" of "+en.Name+" "+en.Vers, sent, progress)
}

// cargoMetadata is the publish metadata of index line en.
func cargoMetadata(en *hostedcargo.IndexEntry) map[string]any {
	features := map[string][]string{}
	for k, v := range en.Features {
		features[k] = v
	}
	for k, v := range en.Features2 {
		features[k] = v
	}
	deps := make([]map[string]any, 0, len(en.Deps))
	for _, d := range en.Deps {
		m := map[string]any{"name": d.Name, "version_req": d.Req, "features": d.Features, "optional": d.Optional,
			"default_features": d.DefaultFeatures, "target": d.Target, "kind": d.Kind, "registry": d.Registry}
		if d.Features == nil {
			m["features"] = []string{}
		}
		if d.Package != nil {
			m["name"], m["explicit_name_in_toml"] = *d.Package, d.Name
		}
		if d.Artifact != nil {
			m["artifact"], m["bindep_target"], m["lib"] = d.Artifact, d.BindepTarget, d.Lib
		}
		deps = append(deps, m)
	}
	meta := map[string]any{"name": en.Name, "vers": en.Vers, "deps": deps, "features": features}
	if en.Links != nil {
		meta["links"] = *en.Links
	}
	if en.RustVersion != nil {
		meta["rust_version"] = *en.RustVersion
	}
	return meta
}
