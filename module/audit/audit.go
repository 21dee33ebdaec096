// Package audit is the provisioning audit trail: one Event per SCIM write and per
// refused request, written to its own logger and, with Redis, to a capped stream
// that every instance shares (Stream), which the activity page and the drift report
// read back. An Event never holds a credential or a password: callers fill it from
// the request's identity and the SCIM answer only.
package audit

import (
	"context"
	"sync"
	"time"
)

// Event is one audited request.
type Event struct {
	Time     time.Time `json:"ts"`
	Site     string    `json:"site"`      // the request's Host
	BasePath string    `json:"base_path"` // the scim handler's base path
	// Tenant is the scim handler's tenant ("" for the default one), by which the
	// activity page of a tenant keeps to its own events.
	Tenant string `json:"tenant,omitempty"`
	// Caller is "token#N" for the N-th static token or a JWT's subject (else its
	// client id); Auth is "token" or "jwt", or "" when authentication failed.
	Caller string `json:"caller,omitempty"`
	Auth   string `json:"auth,omitempty"`
	// ClientID is a JWT caller's client (azp, appid or client_id).
	ClientID string `json:"client_id,omitempty"`
	Client   string `json:"client,omitempty"` // the IdP's User-Agent
	Op       string `json:"op"`               // users.create, groups.patch, …
	Method   string `json:"method"`
	Path     string `json:"path"`
	// The resource, as far as the request or its answer named it.
	ID         string `json:"id,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
	Name       string `json:"name,omitempty"` // userName, or a group's displayName
	// The outcome.
	Status        int     `json:"status"`
	ScimType      string  `json:"scim_type,omitempty"`
	Detail        string  `json:"detail,omitempty"`
	UpstreamCalls int64   `json:"upstream_calls"`
	DurationMS    float64 `json:"duration_ms"`
	RemoteIP      string  `json:"remote_ip,omitempty"`
}

// Refused reports whether the request was refused or failed.
func (e Event) Refused() bool { return e.Status >= 400 }

// Note collects, while a request is served, what its Event names: the resource the
// handler decoded or answered.
type Note struct {
	mu                 sync.Mutex
	id, externalID, nm string
	countOnly          bool
}

type noteKey struct{}

// WithNote returns ctx carrying a new Note.
func WithNote(ctx context.Context) (context.Context, *Note) {
	n := &Note{}
	return context.WithValue(ctx, noteKey{}, n), n
}

// Resource records what ctx's request is about; empty values keep earlier ones.
func Resource(ctx context.Context, id, externalID, name string) {
	n, ok := ctx.Value(noteKey{}).(*Note)
	if !ok {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, f := range []struct {
		dst *string
		v   string
	}{{&n.id, id}, {&n.externalID, externalID}, {&n.nm, name}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
}

// CountOnly marks ctx's request as counted in a summary rather than audited as an
// event of its own (an unauthenticated request past the budget: see Gate).
func CountOnly(ctx context.Context) {
	if n, ok := ctx.Value(noteKey{}).(*Note); ok {
		n.mu.Lock()
		n.countOnly = true
		n.mu.Unlock()
	}
}

// CountedOnly reports whether the request was marked with CountOnly.
func (n *Note) CountedOnly() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.countOnly
}

// Fill copies the note into e.
func (n *Note) Fill(e *Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.ID == "" {
		e.ID = n.id
	}
	e.ExternalID, e.Name = n.externalID, n.nm
}
