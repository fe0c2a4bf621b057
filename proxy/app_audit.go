package proxy

import (
	"io"
	"os"

	"nora/auth"
)

// openAudit opens the [audit] log, if configured, and hands it to the
// server, whose requests it records; the admin API records token changes
// in it too. An audit log on stdout goes through nora's log (which `nora
// serve` writes to stdout): written apart, its lines could land amid the
// log's, which are written many at once.
func (app *App) openAudit(cfg auth.AuditConfig) error {
	stdout := io.Writer(os.Stdout)
	if lh, ok := app.log.Handler().(*LogHandler); ok {
		stdout = lh.w
	}
	var err error
	app.audit, err = auth.OpenAuditLog(cfg.Path, stdout, func(err error) {
		app.log.Error("audit events are being lost", "err", err)
	})
	if err != nil {
		return err
	}
	if app.audit != nil {
		app.srv.SetAuditor(app.audit)
	}
	return nil
}

// auditor is the audit log for the admin API: nil when there is none.
func (app *App) auditor() auth.Auditor {
	if app.audit == nil {
		return nil
	}
	return app.audit
}
