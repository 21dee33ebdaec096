// Package caddyscim plugs the caddy-scim modules into Caddy: build with
//
//	xcaddy build --with github.com/caddy-scim/caddy-scim
//
// and the SCIM handler (http.handlers.scim, directive "scim"), its operator's views
// (the activity page http.handlers.scim_activity, directive "scim_activity"; the
// admin API admin.api.scim and admin.api.scim_links), the caddy scim command and
// every adapter (scim.adapters.*) are registered.
package caddyscim

import (
	_ "github.com/caddy-scim/caddy-scim/adapters/gitea"
	_ "github.com/caddy-scim/caddy-scim/adapters/gitlab"
	_ "github.com/caddy-scim/caddy-scim/adapters/rest"
	_ "github.com/caddy-scim/caddy-scim/module/scimcmd"
	_ "github.com/caddy-scim/caddy-scim/module/scimhandler"
	_ "github.com/caddy-scim/caddy-scim/module/scimops"
)
