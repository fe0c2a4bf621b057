package pypi

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/proxy/httpx"
)

// maxAPIBody caps the JSON body of an API request.
const maxAPIBody = 64 << 10

// yankRequest is the optional JSON body of a yank or unyank.
type yankRequest struct {
	// Reason is shown by installers that pick the yanked file anyway.
	Reason string `json:"reason"`
	// Filename limits the change to one file of the release.
	Filename string `json:"filename"`
}

// yankAnswer is the answer to a yank or unyank.
type yankAnswer struct {
	Project string   `json:"project"`
	Version string   `json:"version"`
	Yanked  bool     `json:"yanked"`
	Reason  string   `json:"reason,omitempty"`
	Files   []string `json:"files"`
}

// serveAPI implements nora's PyPI management API for hosted projects:
//
//	POST /api/pypi/<project>/<version>/yank     body: {"reason": "...", "filename": "..."}
//	POST /api/pypi/<project>/<version>/unyank   body: {"filename": "..."}
//
// Yanking (PEP 592) marks every file of the release, or only "filename",
// as yanked: pip and uv then skip the release unless a requirement pins it
// exactly (==), and the files stay downloadable. Unyank undoes it. The
// body is optional JSON (at most 64 KiB); <project> may be any spelling of
// the name, <version> any spelling of the release ("1.0" is "1.0.0").
// Basic credentials are required: yank needs the delete permission on the
// project, unyank push. The answer is JSON, for example
// {"project":"acme-lib","version":"1.1.0","yanked":true,"reason":"broken","files":["acme_lib-1.1.0-py3-none-any.whl"]};
// errors are plain text (404 for a project that is not hosted or a release
// it does not have).
//
//	curl -u ci:secret -X POST -d '{"reason":"broken build"}' http://nora:4000/api/pypi/acme-lib/1.1.0/yank
func (h *Handler) serveAPI(ctx *fasthttp.RequestCtx, rest string) {
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || (parts[2] != "yank" && parts[2] != "unyank") || !validProject(parts[0]) || parts[1] == "" {
		plainError(ctx, fasthttp.StatusNotFound, "not found: the API has POST /api/pypi/<project>/<version>/yank and .../unyank")
		return
	}
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		plainError(ctx, fasthttp.StatusMethodNotAllowed, "yank and unyank are POSTs")
		return
	}
	project, version, yank := normalize(parts[0]), parts[1], parts[2] == "yank"
	httpx.SetLogInfo(ctx, project, "")
	action := auth.Push
	if yank {
		action = auth.Delete
	}
	if !h.authorize(ctx, action, project) {
		httpx.Drain(ctx)
		return
	}
	var req yankRequest
	b, err := httpx.ReadBody(ctx, maxAPIBody) // drains a body over the cap
	if err != nil {
		reasonError(ctx, httpx.BodyStatus(err), err.Error())
		return
	}
	if len(bytes.TrimSpace(b)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			reasonError(ctx, fasthttp.StatusBadRequest, `the body must be JSON like {"reason": "...", "filename": "..."}: `+err.Error())
			return
		}
	}
	files, err := h.hosted.Yank(ctx, project, version, req.Filename, yank, req.Reason)
	if err != nil {
		h.hostedError(ctx, project, err)
		return
	}
	ans := yankAnswer{Project: project, Version: version, Yanked: yank, Files: files}
	if yank {
		ans.Reason = req.Reason
	}
	out, _ := json.Marshal(ans) // plain strings: cannot fail
	h.deps.Log.Info("pypi yank", "project", project, "version", version, "yanked", yank, "files", len(files))
	ctx.SetContentType("application/json")
	ctx.SetBody(append(out, '\n'))
}
