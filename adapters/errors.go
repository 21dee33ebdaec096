package adapters

import (
	"net/http"

	"github.com/caddy-scim/caddy-scim/module/scim"
)

// UpstreamUnavailable is the error for upstream 5xx, 429, timeouts and connection
// failures: a 503 for the IdP, which retries.
func UpstreamUnavailable(retryAfter int, what string) *scim.Error {
	return scim.Unavailable(retryAfter, "upstream unavailable: %s", what)
}

// UpstreamMisconfigured is the error for upstream 401/403 on admin calls: the admin
// token is wrong or lacks a scope. It is a 502 because the IdP cannot fix it.
func UpstreamMisconfigured(hint string) *scim.Error {
	return scim.Errorf(http.StatusBadGateway, "", "upstream rejected the adapter's admin token: %s", hint)
}
