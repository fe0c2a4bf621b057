package main

import "context"

// mix is the weighted set of operations the content and the login allow:
// warm pulls and installs dominate, as on a site's cache where most asks
// repeat; cold fills, pushes and publishes are the rest.
func (g *Generator) mix() []Kind {
	ct, cold, writes := g.target.Content, g.target.Cold != nil, g.target.User != ""
	var ks []Kind
	add := func(ok bool, name string, weight int, needsUpstream bool, run func(ctx context.Context, c *client) error) {
		if ok {
			ks = append(ks, Kind{Name: name, Weight: weight, Cold: needsUpstream, Run: run})
		}
	}
	add(len(ct.Images) > 0, "image-tag", 14, false, pullTag)
	add(len(ct.Images) > 0, "image-digest", 12, false, pullDigest)
	add(len(ct.Indexes) > 0, "image-platform", 8, false, pullPlatform)
	add(cold, "image-cold", 3, true, pullCold)
	add(writes, "image-push", 4, false, push)
	add(len(ct.Npm) > 0, "npm-install", 12, false, npmWarm)
	add(cold, "npm-cold", 2, true, npmCold)
	add(writes, "npm-publish", 2, false, npmPublish)
	add(len(ct.PyPI) > 0, "pip-install", 10, false, pipWarm)
	add(cold, "pip-cold", 2, true, pipCold)
	add(writes, "pip-upload", 2, false, pipUpload)
	add(len(ct.Maven) > 0, "maven-resolve", 8, false, mavenWarm)
	add(cold, "maven-cold", 2, true, mavenCold)
	add(writes, "maven-deploy", 2, false, mavenDeploy)
	add(len(ct.Crates) > 0, "cargo-fetch", 8, false, cargoWarm)
	add(cold, "cargo-cold", 2, true, cargoCold)
	add(writes, "cargo-publish", 2, false, cargoPublish)
	return ks
}
