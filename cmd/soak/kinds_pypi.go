package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/url"
	"strings"
)

const pypiAccept = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.2"

type pypiPage struct {
	Files []struct {
		Filename string            `json:"filename"`
		URL      string            `json:"url"`
		Hashes   map[string]string `json:"hashes"`
	} `json:"files"`
}

// pipInstall reads the project page (PEP 691 JSON), then a wheel through
// the link nora wrote, and checks its sha256. file "" takes any wheel.
func (c *client) pipInstall(ctx context.Context, project, file, sum string) error {
	page := c.abs("/simple/" + project + "/")
	b, err := c.get(ctx, page, pypiAccept)
	if err != nil {
		return err
	}
	var p pypiPage
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("page of %s: %v: %w", project, err, errWrongBytes)
	}
	for _, f := range p.Files {
		if !strings.HasSuffix(f.Filename, ".whl") || (file != "" && f.Filename != file) {
			continue
		}
		if sum != "" && f.Hashes["sha256"] != sum {
			return wrongBytes(f.Filename+" on the page", f.Hashes["sha256"], sum)
		}
		base, _ := url.Parse(page)
		link, err := base.Parse(f.URL)
		if err != nil {
			return fmt.Errorf("link of %s: %v: %w", f.Filename, err, errWrongBytes)
		}
		link.Fragment = ""
		whl, err := c.get(ctx, link.String(), "")
		if err != nil {
			return err
		}
		if got := sha256Hex(whl); got != f.Hashes["sha256"] {
			return wrongBytes(f.Filename, got, f.Hashes["sha256"])
		}
		return nil
	}
	return fmt.Errorf("page of %s lists no wheel %q: %w", project, file, errWrongBytes)
}

func pipWarm(ctx context.Context, c *client) error {
	return c.pipInstall(ctx, pickOne(c, c.g.target.Content.PyPI), "", "")
}

func pipCold(ctx context.Context, c *client) error {
	p, err := c.g.target.Cold.PyPI(ctx)
	if err != nil {
		return fmt.Errorf("cannot make a cold PyPI project: %w", err)
	}
	return c.pipInstall(ctx, p, "", "")
}

// pipUpload uploads a new project's wheel as twine does.
func pipUpload(ctx context.Context, c *client) error {
	project, ver := "soak-up-"+c.unique(), "1.0"
	file, data := wheel(project, ver)
	sum := sha256Hex(data)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, kv := range [][2]string{{":action", "file_upload"}, {"protocol_version", "1"}, {"name", project},
		{"version", ver}, {"filetype", "bdist_wheel"}, {"pyversion", "py3"}, {"metadata_version", "2.1"},
		{"sha256_digest", sum}} {
		mw.WriteField(kv[0], kv[1])
	}
	w, _ := mw.CreateFormFile("content", file)
	w.Write(data)
	mw.Close()
	check := func(ctx context.Context) error { return c.pipInstall(ctx, project, file, sum) }
	if err := published(ctx, c.send(ctx, "POST", "/simple/", mw.FormDataContentType(), b.Bytes()), check); err != nil {
		return err
	}
	c.g.ledger.add("pypi "+file, check)
	return nil
}
