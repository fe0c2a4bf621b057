package main

import (
	"context"
	"fmt"
	"strings"
)

// mavenBase is the repository path of group:artifact:version's files,
// without the extension.
func mavenBase(gav string) (string, error) {
	p := strings.Split(gav, ":")
	if len(p) != 3 {
		return "", fmt.Errorf("maven coordinate %q: want group:artifact:version", gav)
	}
	return "/maven2/" + strings.ReplaceAll(p[0], ".", "/") + "/" + p[1] + "/" + p[2] + "/" + p[1] + "-" + p[2], nil
}

// mavenResolve fetches the pom, the jar and the jar's .sha1, and checks
// the jar against it (and against want, if set), as Maven does.
func (c *client) mavenResolve(ctx context.Context, gav, want string) error {
	base, err := mavenBase(gav)
	if err != nil {
		return err
	}
	if _, err := c.get(ctx, base+".pom", ""); err != nil {
		return err
	}
	jar, err := c.get(ctx, base+".jar", "")
	if err != nil {
		return err
	}
	sum, err := c.get(ctx, base+".jar.sha1", "")
	if err != nil {
		return err
	}
	listed, _, _ := strings.Cut(strings.TrimSpace(string(sum)), " ")
	if got := sha1Hex(jar); got != listed || (want != "" && got != want) {
		return wrongBytes(gav+" jar", got, listed+" "+want)
	}
	return nil
}

func mavenWarm(ctx context.Context, c *client) error {
	return c.mavenResolve(ctx, pickOne(c, c.g.target.Content.Maven), "")
}

func mavenCold(ctx context.Context, c *client) error {
	gav, err := c.g.target.Cold.Maven(ctx)
	if err != nil {
		return fmt.Errorf("cannot make a cold Maven artifact: %w", err)
	}
	return c.mavenResolve(ctx, gav, "")
}

// mavenDeploy deploys a new release as mvn deploy does: each file, then
// its .sha1.
func mavenDeploy(ctx context.Context, c *client) error {
	gav := "org.soak:d-" + c.unique() + ":1.0"
	base, _ := mavenBase(gav)
	jar := tgz("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n", "data.txt", noise(2048))
	pom := "<project><modelVersion>4.0.0</modelVersion><groupId>org.soak</groupId><artifactId>" +
		strings.Split(gav, ":")[1] + "</artifactId><version>1.0</version></project>"
	for _, f := range [][2]string{{".jar", string(jar)}, {".pom", pom}} {
		body := []byte(f[1])
		for _, put := range [][2]string{{f[0], f[1]}, {f[0] + ".sha1", sha1Hex(body)}} {
			err := c.send(ctx, "PUT", base+put[0], "application/octet-stream", []byte(put[1]))
			check := func(ctx context.Context) error {
				b, err := c.get(ctx, base+put[0], "")
				if err == nil && string(b) != put[1] {
					return wrongBytes(base+put[0], sha1Hex(b), sha1Hex([]byte(put[1])))
				}
				return err
			}
			if err := published(ctx, err, check); err != nil {
				return err
			}
		}
	}
	want := sha1Hex(jar)
	c.g.ledger.add("maven "+gav, func(ctx context.Context) error { return c.mavenResolve(ctx, gav, want) })
	return nil
}
