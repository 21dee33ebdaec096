package gitlabemu

import (
	"strings"
	"time"
)

type handler func(s *Server, c *reqCtx)

type route struct {
	method  string
	pattern string // as in Calls() keys, e.g. "/users/:id/block"
	segs    []string
	h       handler
}

func (r *route) key() string { return r.method + " " + r.pattern }

// Segment variables: numeric ones follow lib/api/users.rb's requirement
// id: /[0-9]*/, so /users/abc is an unknown route (404 {"error":...}).
var numericVars = map[string]bool{":id": true, ":user_id": true, ":email_id": true}

var routes []*route

func add(method, pattern string, h handler) {
	routes = append(routes, &route{method: method, pattern: pattern, segs: strings.Split(strings.Trim(pattern, "/"), "/"), h: h})
}

func init() {
	add("GET", "/users", (*Server).listUsers)
	add("POST", "/users", (*Server).createUser)
	add("GET", "/users/:id", (*Server).getUser)
	add("PUT", "/users/:id", (*Server).updateUser)
	add("DELETE", "/users/:id", (*Server).deleteUser)
	add("POST", "/users/:id/block", (*Server).blockUser)
	add("POST", "/users/:id/unblock", (*Server).unblockUser)
	add("POST", "/users/:id/deactivate", (*Server).deactivateUser)
	add("POST", "/users/:id/activate", (*Server).activateUser)
	add("POST", "/users/:id/ban", (*Server).banUser)
	add("POST", "/users/:id/unban", (*Server).unbanUser)
	add("DELETE", "/users/:id/identities/:provider", (*Server).deleteIdentity)
	add("GET", "/users/:id/emails", (*Server).listEmails)
	add("POST", "/users/:id/emails", (*Server).addEmail)
	add("DELETE", "/users/:id/emails/:email_id", (*Server).deleteEmail)
	add("GET", "/users/:id/custom_attributes", userCA((*Server).listCA))
	add("GET", "/users/:id/custom_attributes/:key", userCA((*Server).getCA))
	add("PUT", "/users/:id/custom_attributes/:key", userCA((*Server).putCA))
	add("DELETE", "/users/:id/custom_attributes/:key", userCA((*Server).deleteCA))
	add("GET", "/users/:user_id/memberships", (*Server).listMemberships)
	add("GET", "/user", (*Server).currentUser)
	add("GET", "/personal_access_tokens/self", (*Server).tokenSelf)

	add("GET", "/groups", (*Server).listGroups)
	add("POST", "/groups", (*Server).createGroup)
	add("GET", "/groups/:gid", (*Server).getGroup)
	add("PUT", "/groups/:gid", (*Server).updateGroup)
	add("DELETE", "/groups/:gid", (*Server).deleteGroup)
	add("GET", "/groups/:gid/custom_attributes", groupCA((*Server).listCA))
	add("GET", "/groups/:gid/custom_attributes/:key", groupCA((*Server).getCA))
	add("PUT", "/groups/:gid/custom_attributes/:key", groupCA((*Server).putCA))
	add("DELETE", "/groups/:gid/custom_attributes/:key", groupCA((*Server).deleteCA))
	add("GET", "/groups/:gid/members", (*Server).listMembers)
	add("POST", "/groups/:gid/members", (*Server).addMember)
	add("GET", "/groups/:gid/members/:user_id", (*Server).getMember)
	add("PUT", "/groups/:gid/members/:user_id", (*Server).updateMember)
	add("DELETE", "/groups/:gid/members/:user_id", (*Server).deleteMember)
}

func matchRoute(method string, segs []string) (*route, map[string]string) {
	if method == "HEAD" {
		method = "GET"
	}
	for _, rt := range routes {
		if rt.method != method || len(rt.segs) != len(segs) {
			continue
		}
		vars := map[string]string{}
		ok := true
		for i, ps := range rt.segs {
			if strings.HasPrefix(ps, ":") {
				if segs[i] == "" || (numericVars[ps] && !isDigits(segs[i])) {
					ok = false
					break
				}
				vars[ps[1:]] = segs[i]
			} else if ps != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return rt, vars
		}
	}
	return nil, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------- faults and counters

// Fault is an injected failure for fault-tolerance tests.
type Fault struct {
	// Route is a Calls() key ("POST /users/:id/block"), a pattern without
	// method ("/users/:id/block", any method) or "*" (every route).
	Route string
	// Status, when non-zero, is answered instead of the real response, with
	// body {"message":"<code> <text>"}.
	Status int
	// Delay is slept first (cut short when the client gives up), to provoke
	// client timeouts. With Status 0 the request is then served normally.
	Delay time.Duration
	// AfterHandler applies the request's effect before answering Status, so
	// the client sees a failure for a change that was made.
	AfterHandler bool
	// Count is how many matching requests are affected (<= 0 means 1).
	Count int
}

// InjectFault queues f; faults are consumed in the order they were added.
func (s *Server) InjectFault(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	s.mu.Lock()
	s.faults = append(s.faults, &f)
	s.mu.Unlock()
}

// ClearFaults drops the faults not consumed yet.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// FailNext makes the next n requests to route answer status.
func (s *Server) FailNext(route string, status, n int) {
	s.InjectFault(Fault{Route: route, Status: status, Count: n})
}

// DelayNext makes the next n requests to route wait d before being served.
func (s *Server) DelayNext(route string, d time.Duration, n int) {
	s.InjectFault(Fault{Route: route, Delay: d, Count: n})
}

func (s *Server) takeFault(key string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	pattern := key[strings.IndexByte(key, ' ')+1:]
	for i, f := range s.faults {
		if f.Route == "*" || f.Route == key || f.Route == pattern {
			f.Count--
			cp := *f
			if f.Count <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return &cp
		}
	}
	return nil
}

// Calls returns a copy of the per-route request counters. Keys are
// "METHOD /pattern" (e.g. "GET /users/:id"), plus "unauthenticated",
// "throttled" and "unmatched".
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// TotalCalls is the sum of all counters.
func (s *Server) TotalCalls() int {
	n := 0
	for _, v := range s.Calls() {
		n += v
	}
	return n
}

// ResetCalls zeroes the counters and keeps the data.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	s.calls = map[string]int{}
	s.mu.Unlock()
}
