package provision

import (
	"context"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// CheckUpstream checks that the upstream answers and accepts the adapter's admin
// credential: the adapter's own check (adapters.HealthChecker), else a listing of
// one user.
func (s *Service) CheckUpstream(ctx context.Context) error {
	if hc, ok := s.Adapter.(adapters.HealthChecker); ok {
		return hc.CheckHealth(ctx)
	}
	_, _, err := s.Adapter.ListUsers(ctx, adapters.Page{Limit: 1})
	return err
}
