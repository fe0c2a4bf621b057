package proxy

import (
	"fmt"
	"net"

	"nora/proxy/sitetls"
)

// listen loads or creates the server certificate ([server.tls]) and binds
// [server] listen and listen_plain.
func (app *App) listen(cfg AppConfig) error {
	sc := cfg.Server
	var err error
	if app.certs, err = sitetls.Open(sc.TLS, cfg.Storage.Path, sitetls.Options{Log: app.log.With("component", "tls")}); err != nil {
		return fmt.Errorf("cannot set up TLS: %w", err)
	}
	if app.ln, err = net.Listen("tcp", sc.Listen); err != nil {
		return fmt.Errorf("cannot listen on %s: %w", sc.Listen, err)
	}
	if app.certs == nil || sc.ListenPlain == "" {
		app.srv.SetSiteTLS(app.certs.CAPEM(), "")
		return nil
	}
	if app.plainLn, err = net.Listen("tcp", sc.ListenPlain); err != nil {
		_ = app.ln.Close()
		return fmt.Errorf("cannot listen on %s: %w", sc.ListenPlain, err)
	}
	port := ""
	if sc.Plain != PlainServe {
		_, port, _ = net.SplitHostPort(app.ln.Addr().String())
	}
	app.srv.SetSiteTLS(app.certs.CAPEM(), port)
	app.log.Info("plain listener", "addr", app.plainLn.Addr().String(), "tls_addr", app.ln.Addr().String(), "plain", sc.Plain)
	return nil
}

// serveListeners starts serving on the listeners (TLS on the main one when
// on); the main listener's end is sent on errc.
func (app *App) serveListeners(errc chan<- error) {
	if app.plainLn != nil {
		go func() {
			if err := app.srv.Serve(app.plainLn); err != nil {
				app.log.Error("plain listener stopped", "err", err)
			}
		}()
	}
	if app.certs == nil {
		go func() { errc <- app.srv.Serve(app.ln) }()
		return
	}
	go app.certs.Run(app.life)
	go func() { errc <- app.srv.ServeTLS(app.ln, app.certs.TLSConfig()) }()
}

// PlainAddr is the plain listener's address ([server] listen_plain), nil
// when there is none.
func (a *App) PlainAddr() net.Addr {
	if a.plainLn == nil {
		return nil
	}
	return a.plainLn.Addr()
}
