package scimops

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/scimhandler"
)

func init() {
	caddy.RegisterModule(LinksAPI{})
}

// LinksAPI serves the identity links of this Caddy's scim handlers on its admin API,
// for backups and restores (`caddy scim links export|import`):
//
//	GET  /scim/links?base_path=/scim/v2[&tenant=t]   the handler's links, JSON lines
//	POST /scim/links?base_path=/scim/v2[&tenant=t]   store the links of the body
//
// The links are the record of each identity SCIM provisioned (its userName of
// record, who blocked it, its tenant): where the application keeps no copy of them,
// a lost store is restored from such an export, never guessed.
type LinksAPI struct{}

// CaddyModule returns the Caddy module information.
func (LinksAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.scim_links", New: func() caddy.Module { return new(LinksAPI) }}
}

// Routes implements caddy.AdminRouter.
func (LinksAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/scim/links", Handler: caddy.AdminHandlerFunc(serveLinks)}}
}

var _ caddy.AdminRouter = LinksAPI{}

// maxImport bounds an import body (a few hundred bytes a link: millions of links).
const maxImport = 1 << 30

func serveLinks(w http.ResponseWriter, r *http.Request) error {
	h, err := linksHandler(r)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		ex, ok := h.Links().(links.Exporter)
		if !ok {
			return caddy.APIError{HTTPStatus: http.StatusNotImplemented, Err: fmt.Errorf("the link store of %s cannot be exported", h.BasePath)}
		}
		w.Header().Set("Content-Type", "application/jsonl")
		_, err := links.WriteJSONLines(r.Context(), w, ex)
		return err
	case http.MethodPost:
		n, err := links.ReadJSONLines(r.Context(), http.MaxBytesReader(w, r.Body, maxImport), h.Links(), func(l links.Link) error {
			if l.Tenant != h.Tenant { // a backup of another tenant never lands in this one's namespace
				return fmt.Errorf("link %s belongs to tenant %q, not %q", l.ID, l.Tenant, h.Tenant)
			}
			return nil
		})
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("import stopped after %d links: %v", n, err)}
		}
		h.Logger().Warn("identity links imported through the admin API", zap.Int("links", n), zap.String("base_path", h.BasePath), zap.String("tenant", h.Tenant))
		return writeAdminJSON(w, http.StatusOK, map[string]int{"imported": n})
	}
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
}

// linksHandler finds the one handler the query names.
func linksHandler(r *http.Request) (*scimhandler.Handler, error) {
	bp, tenant := r.URL.Query().Get("base_path"), r.URL.Query().Get("tenant")
	var found []*scimhandler.Handler
	for _, h := range scimhandler.Live() {
		if (bp == "" || h.BasePath == "/"+strings.Trim(bp, "/")) && h.Tenant == tenant {
			found = append(found, h)
		}
	}
	switch {
	case len(found) == 0:
		return nil, caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no scim handler with base_path %q and tenant %q", bp, tenant)}
	case len(found) > 1 && found[0].LinkNamespace() != found[len(found)-1].LinkNamespace():
		return nil, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("several scim handlers match: name one with base_path and tenant")}
	}
	return found[0], nil
}
