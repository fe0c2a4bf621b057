package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// reloader is what SIGHUP reloads; *proxy.App implements it.
type reloader interface{ Reload() error }

// reloadOnHangup calls r.Reload on each SIGHUP until ctx is done, telling
// systemd (ExecReload sends the signal) when a reload starts and ends. A
// failed reload is logged and leaves the previous state in force. SIGHUP
// stays caught (and ignored after ctx is done) until stop, so a hangup
// during the drain does not kill nora; stop waits for a reload in progress.
func reloadOnHangup(ctx context.Context, r reloader, sd *notifier, log *slog.Logger, status string) (stop func()) {
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
			if err := r.Reload(); err != nil {
				log.Error("reload failed, the previous settings stay in force", "err", err)
				st = "reload failed: " + err.Error()
			} else {
				log.Info("reloaded")
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
