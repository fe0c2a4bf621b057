package proxy

import (
	"strings"

	"nora/internal/fault"
	"nora/proxy/replicate"
)

// replicateBase is the local nora as a replication endpoint: requests go
// through an in-memory listener, never the network.
const replicateBase = "http://replicate.nora.internal"

// mountReplicate serves nora's own handlers on an in-memory listener only
// the replication runs dial, with an identity that may pull, push and
// administer, and serves the runs at /api/v1/replicate with the
// [replication] schedules.
func (app *App) mountReplicate(cfg AppConfig) error {
	in, err := app.newInternal("replicate", []string{"pull:**", "push:**", "admin:**"}, nil)
	if err != nil {
		return err
	}
	local := replicate.Endpoint{Name: "local", URL: replicateBase, Client: in.Client}
	svc := replicate.NewService(app.life, replicateResolver(cfg, local), app.log.With("component", "replicate"))
	app.closers = append(app.closers, func() {
		svc.Wait() // it ends with app.life
		in.close()
	})
	return app.admin.SetReplicate(svc, cfg.Replication.Schedules)
}

// replicateResolver turns a request into a run between local and a
// remote of [[replication.remotes]], or from a docker upstream's name
// (its images pulled through the local cache) into the local nora.
func replicateResolver(cfg AppConfig, local replicate.Endpoint) replicate.Resolver {
	remotes := map[string]replicate.Remote{}
	for _, r := range cfg.Replication.Remotes {
		remotes[r.Name] = r
	}
	upstreams := map[string]bool{}
	for _, u := range cfg.Docker.Upstreams {
		upstreams[u.Name] = true
	}
	movers := append([]replicate.Mover{replicate.OCI{}}, replicate.Movers()...)
	return func(req replicate.Request) (replicate.Options, error) {
		o := replicate.Options{Source: local, Target: local, Movers: movers}
		name := req.To + req.From
		r, ok := remotes[name]
		switch {
		case ok:
			tok, err := r.ReadToken()
			if err != nil {
				return o, fault.Wrap(fault.Unavailable, err, "replicate: the token of "+name)
			}
			remote := replicate.Endpoint{Name: r.Name, URL: strings.TrimSuffix(r.URL, "/"), Token: tok}
			if req.To != "" {
				o.Target = remote
			} else {
				o.Source = remote
			}
		case req.From != "" && upstreams[name]:
			// The upstream's name is the first path element of its images.
			o.Source.Prefix = name + "/"
			o.Movers = []replicate.Mover{replicate.OCI{}}
		default:
			return o, fault.Newf(fault.NotFound, "replicate: no remote (or docker upstream) %q", name)
		}
		return o, nil
	}
}
