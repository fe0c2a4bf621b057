package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// The abbreviated packument npm install asks for.
const npmAccept = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"

type packument struct {
	DistTags map[string]string `json:"dist-tags"`
	Versions map[string]struct {
		Dist struct {
			Tarball   string `json:"tarball"`
			Integrity string `json:"integrity"`
		} `json:"dist"`
	} `json:"versions"`
}

func npmPath(name string) string { return "/npm/" + strings.Replace(name, "/", "%2f", 1) }

// npmInstall fetches the packument, then the latest version's tarball
// through the link nora wrote, and checks its integrity.
func (c *client) npmInstall(ctx context.Context, name, wantVersion, wantIntegrity string) error {
	b, err := c.get(ctx, npmPath(name), npmAccept)
	if err != nil {
		return err
	}
	var p packument
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("packument of %s: %v: %w", name, err, errWrongBytes)
	}
	v := p.DistTags["latest"]
	if wantVersion != "" {
		v = wantVersion
	}
	d, ok := p.Versions[v]
	if !ok || !strings.HasPrefix(d.Dist.Tarball, c.g.target.Base+"/npm/") {
		return fmt.Errorf("packument of %s: version %q with tarball %q: %w", name, v, d.Dist.Tarball, errWrongBytes)
	}
	if wantIntegrity != "" && d.Dist.Integrity != wantIntegrity {
		return wrongBytes(name+"@"+v+" integrity in the packument", d.Dist.Integrity, wantIntegrity)
	}
	tgz, err := c.get(ctx, d.Dist.Tarball, "")
	if err != nil {
		return err
	}
	if got := sha512SRI(tgz); got != d.Dist.Integrity {
		return wrongBytes(name+"@"+v, got, d.Dist.Integrity)
	}
	return nil
}

func npmWarm(ctx context.Context, c *client) error {
	return c.npmInstall(ctx, pickOne(c, c.g.target.Content.Npm), "", "")
}

func npmCold(ctx context.Context, c *client) error {
	name, err := c.g.target.Cold.Npm(ctx)
	if err != nil {
		return fmt.Errorf("cannot make a cold npm package: %w", err)
	}
	return c.npmInstall(ctx, name, "", "")
}

// npmPublish publishes a new package under @soak, as npm publish sends it.
func npmPublish(ctx context.Context, c *client) error {
	name, ver := "@soak/p-"+c.unique(), "1.0.0"
	tarball := tgz("package/package.json", `{"name":"`+name+`","version":"`+ver+`"}`, "package/data.txt", noise(2048))
	sri := sha512SRI(tarball)
	file := name[strings.LastIndex(name, "/")+1:] + "-" + ver + ".tgz"
	doc, _ := json.Marshal(map[string]any{
		"_id": name, "name": name, "dist-tags": map[string]string{"latest": ver},
		"versions": map[string]any{ver: map[string]any{"name": name, "version": ver,
			"dist": map[string]string{"integrity": sri, "shasum": sha1Hex(tarball)}}},
		"_attachments": map[string]any{file: map[string]any{
			"content_type": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(tarball), "length": len(tarball)}},
	})
	check := func(ctx context.Context) error { return c.npmInstall(ctx, name, ver, sri) }
	if err := published(ctx, c.send(ctx, "PUT", npmPath(name), "application/json", doc), check); err != nil {
		return err
	}
	c.g.ledger.add("npm "+name+"@"+ver, check)
	return nil
}
