package proxy

import (
	"nora/cache"
	"nora/proxy/httpx"
	"nora/proxy/inventory"
)

// keepInventory adds a format's hosted registry to the inventory of what
// is on the box (created on the first call, with the hosted OCI state).
func (app *App) keepInventory(store cache.Store, reg any) {
	if app.inventory == nil {
		app.inventory = inventory.New(inventory.Deps{Cache: app.cache, Store: store, OCI: app.hosted})
	}
	app.inventory.Add(reg)
}

// mountInventory serves the inventory on the admin API (images, packages,
// cache); its tags and deletes go to the server's event sink as a
// request's would, read when they happen (the webhooks set it later).
func (app *App) mountInventory(store cache.Store) {
	app.keepInventory(store, nil)
	app.admin.SetContent(app.inventory, func(e httpx.Event) {
		if sink := app.srv.events; sink != nil {
			sink(e)
		}
	})
}
