package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"nora/proxy/cargo/cargotest"
)

type indexLine struct {
	Name  string `json:"name"`
	Vers  string `json:"vers"`
	Cksum string `json:"cksum"`
}

// cargoFetch reads config.json and the crate's index file, then
// downloads a version (the last listed, or vers) and checks its cksum.
func (c *client) cargoFetch(ctx context.Context, name, vers, cksum string) error {
	b, err := c.get(ctx, "/cargo/index/config.json", "")
	if err != nil {
		return err
	}
	var cfg struct {
		DL string `json:"dl"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.DL == "" {
		return fmt.Errorf("cargo config.json %q: %w", b, errWrongBytes)
	}
	lower := strings.ToLower(name)
	if b, err = c.get(ctx, "/cargo/index/"+cargotest.IndexDir(lower)+"/"+lower, ""); err != nil {
		return err
	}
	var pick indexLine
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var e indexLine
		if err := json.Unmarshal(l, &e); err != nil {
			return fmt.Errorf("index of %s: %v: %w", name, err, errWrongBytes)
		}
		if vers == "" || e.Vers == vers {
			pick = e
		}
	}
	if pick.Cksum == "" || (cksum != "" && pick.Cksum != cksum) {
		return fmt.Errorf("index of %s lists %+v, want %s %s: %w", name, pick, vers, cksum, errWrongBytes)
	}
	dl := cfg.DL + "/" + pick.Name + "/" + pick.Vers + "/download"
	if strings.Contains(cfg.DL, "{") {
		dl = strings.NewReplacer("{crate}", pick.Name, "{version}", pick.Vers, "{prefix}", cargotest.IndexDir(pick.Name),
			"{lowerprefix}", cargotest.IndexDir(lower), "{sha256-checksum}", pick.Cksum).Replace(cfg.DL)
	}
	crate, err := c.get(ctx, dl, "")
	if err != nil {
		return err
	}
	if got := sha256Hex(crate); got != pick.Cksum {
		return wrongBytes(name+" "+pick.Vers, got, pick.Cksum)
	}
	return nil
}

func cargoWarm(ctx context.Context, c *client) error {
	return c.cargoFetch(ctx, pickOne(c, c.g.target.Content.Crates), "", "")
}

func cargoCold(ctx context.Context, c *client) error {
	name, err := c.g.target.Cold.Crate(ctx)
	if err != nil {
		return fmt.Errorf("cannot make a cold crate: %w", err)
	}
	return c.cargoFetch(ctx, name, "", "")
}

// cargoPublish publishes a new crate as cargo publish sends it: the
// metadata and the .crate, each after its little-endian length.
func cargoPublish(ctx context.Context, c *client) error {
	name, vers := "soak-pub-"+c.unique(), "0.1.0"
	crate := tgz(name+"-"+vers+"/Cargo.toml", "[package]\nname = \""+name+"\"\nversion = \""+vers+"\"\n",
		name+"-"+vers+"/src/lib.rs", "// "+noise(2048)+"\n")
	meta, _ := json.Marshal(map[string]any{"name": name, "vers": vers, "deps": []any{}, "features": map[string]any{},
		"authors": []string{}, "description": "soak", "license": "MIT", "keywords": []string{}, "categories": []string{},
		"badges": map[string]any{}})
	body := binary.LittleEndian.AppendUint32(nil, uint32(len(meta)))
	body = append(body, meta...)
	body = binary.LittleEndian.AppendUint32(body, uint32(len(crate)))
	body = append(body, crate...)
	sum := sha256Hex(crate)
	check := func(ctx context.Context) error { return c.cargoFetch(ctx, name, vers, sum) }
	if err := published(ctx, c.send(ctx, "PUT", "/cargo/api/v1/crates/new", "application/octet-stream", body), check); err != nil {
		return err
	}
	c.g.ledger.add("cargo "+name+" "+vers, check)
	return nil
}
