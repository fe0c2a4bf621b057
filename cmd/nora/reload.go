package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"syscall"

	"nora/proxy"
)

// reloader is what SIGHUP reloads; *proxy.App implements it.
type reloader interface{ Reload(proxy.AppConfig) error }

// liveKeys are the keys a reload applies to the running nora
// (proxy.App.Reload); the htpasswd file's content is reread on every reload.
// Any other key that changes is logged as needing a restart.
var liveKeys = []string{"auth.anonymous_read", "auth.groups", "auth.rules", "auth.oidc.providers"}

// configReloader returns what SIGHUP runs: load the file (and the
// environment nora started with) again through the same checks as start-up;
// refuse the whole of it when they fail, the running settings staying in
// force; else apply the live keys and log by name the changed keys that
// need a restart. cur is the configuration nora started with.
func configReloader(app reloader, cur fileConfig, load func() (fileConfig, string, error), log *slog.Logger) func() error {
	return func() error {
		next, source, err := load()
		if err != nil {
			return err
		}
		changed := changedKeys(cur, next)
		if err := app.Reload(next.app()); err != nil {
			return err
		}
		cur.Auth.AnonymousRead, cur.Auth.Groups, cur.Auth.Rules = next.Auth.AnonymousRead, next.Auth.Groups, next.Auth.Rules
		cur.Auth.OIDC = next.Auth.OIDC
		live, restart := []string{}, []string{}
		for _, k := range changed {
			if slices.Contains(liveKeys, k) {
				live = append(live, k)
			} else {
				restart = append(restart, k)
			}
		}
		if len(restart) > 0 {
			log.Warn("these changed keys need a restart to take effect; their running values stay", "keys", restart, "config", source)
		}
		// The htpasswd file is reread whether or not a key changed.
		log.Info("config reloaded", "config", source, "applied", live)
		return nil
	}
}

// changedKeys lists the keys whose values differ between a and b: scalars
// by their dotted name, arrays (of tables or values) as a whole
// ("docker.upstreams"). Only names, never values: some are secrets.
func changedKeys(a, b fileConfig) []string {
	var keys []string
	var walk func(x, y reflect.Value, key string)
	walk = func(x, y reflect.Value, key string) {
		t := x.Type()
		for i := range t.NumField() {
			k := tomlName(t.Field(i))
			if k == "" {
				continue
			}
			fx, fy, fk := x.Field(i), y.Field(i), joinKey(key, k)
			if fx.Kind() == reflect.Struct && !isScalar(fx.Type()) {
				walk(fx, fy, fk)
			} else if !reflect.DeepEqual(fx.Interface(), fy.Interface()) {
				keys = append(keys, fk)
			}
		}
	}
	walk(reflect.ValueOf(a), reflect.ValueOf(b), "")
	return keys
}

// reloadOnHangup calls reload on each SIGHUP until ctx is done, telling
// systemd (ExecReload sends the signal) when a reload starts and ends. A
// failed reload is logged and leaves the previous state in force. SIGHUP
// stays caught (and ignored after ctx is done) until stop, so a hangup
// during the drain does not kill nora; stop waits for a reload in progress.
func reloadOnHangup(ctx context.Context, reload func() error, sd *notifier, log *slog.Logger, status string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			if err := sd.reloading(); err != nil {
				log.Warn("cannot notify systemd", "err", err)
			}
			st := status
			if err := reload(); err != nil {
				log.Error("reload failed, the previous settings stay in force", "err", err)
				st = "reload failed: " + oneLine(err.Error())
			}
			if err := sd.ready(st); err != nil {
				log.Warn("cannot notify systemd", "err", err)
			}
		}
	}()
	return func() {
		cancel()
		<-done
		signal.Stop(hup)
	}
}
