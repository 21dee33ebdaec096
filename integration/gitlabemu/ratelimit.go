package gitlabemu

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// rlKey is one throttle's count for one user: "" is Rack::Attack's
// throttle_authenticated_api, else an application limit's key.
type rlKey struct {
	user  int
	limit string
	slot  int64 // the window's number (Rack::Attack) or 0 (application limits)
}

type rlWindow struct {
	start time.Time
	count int
}

const appLimitMessage = `{"message":{"error":"This endpoint has been requested too many times. Try again later."}}`

// throttled is the instance-wide throttle, which runs before routing; it writes
// the 429 itself.
func (s *Server) throttled(w http.ResponseWriter, userID int) bool {
	if s.opts.RateLimit <= 0 {
		return false
	}
	if s.opts.RateLimitStyle == ApplicationLimit {
		return s.appLimited(w, userID, "all", s.opts.RateLimit, s.opts.RateLimitWindow)
	}
	return s.rackAttack(w, userID)
}

// rackAttack counts in windows aligned on the epoch, as Rack::Attack does: the
// window of a request at Unix time t ends at t + period - t%period
// (lib/gitlab/rack_attack.rb, throttled_response_headers; the RateLimit-Reset
// there is that end as a Unix time, RateLimit-Limit the limit per 60 seconds).
func (s *Server) rackAttack(w http.ResponseWriter, userID int) bool {
	period := int64(s.opts.RateLimitWindow / time.Second)
	if period < 1 {
		period = 1
	}
	now := s.now().Unix()
	s.mu.Lock()
	k := rlKey{user: userID, slot: now / period}
	win := s.windows[k]
	if win == nil {
		win = &rlWindow{}
		s.windows[k] = win
	}
	win.count++
	observed := win.count
	s.mu.Unlock()
	if observed <= s.opts.RateLimit {
		return false
	}
	retry := period - now%period
	reset := time.Unix(now+retry, 0).UTC()
	rounded := (int64(s.opts.RateLimit)*60 + period - 1) / period
	h := w.Header()
	h.Set("RateLimit-Name", "throttle_authenticated_api")
	h.Set("RateLimit-Limit", strconv.FormatInt(rounded, 10))
	h.Set("RateLimit-Observed", strconv.Itoa(observed))
	h.Set("RateLimit-Remaining", "0")
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("RateLimit-ResetTime", reset.Format(http.TimeFormat))
	h.Set("Retry-After", strconv.FormatInt(retry, 10))
	h.Set("Content-Type", "text/plain")
	w.WriteHeader(429)
	_, _ = io.WriteString(w, "Retry later\n")
	return true
}

// appLimited is Gitlab::ApplicationRateLimiter: a count per user and key that
// expires interval after its first request; over limit the endpoint answers the
// JSON of check_rate_limit! with no Retry-After and no RateLimit-* headers.
func (s *Server) appLimited(w http.ResponseWriter, userID int, key string, limit int, interval time.Duration) bool {
	now := s.now()
	s.mu.Lock()
	k := rlKey{user: userID, limit: key}
	win := s.windows[k]
	if win == nil || now.Sub(win.start) >= interval {
		win = &rlWindow{start: now}
		s.windows[k] = win
	}
	win.count++
	over := win.count > limit
	s.mu.Unlock()
	if over {
		writeRawJSON(w, 429, []byte(appLimitMessage))
	}
	return over
}

// endpointThrottled applies the per-endpoint limits of GET /groups (groups_api)
// and GET /groups/:id (group_api), checked first in those endpoints
// (lib/api/groups.rb, check_rate_limit_by_user_or_ip!; interval one minute in
// lib/gitlab/application_rate_limiter.rb).
func (s *Server) endpointThrottled(w http.ResponseWriter, userID int, route string) bool {
	switch {
	case route == "GET /groups" && s.opts.GroupsAPILimit > 0:
		return s.appLimited(w, userID, "groups_api", s.opts.GroupsAPILimit, time.Minute)
	case route == "GET /groups/:gid" && s.opts.GroupAPILimit > 0:
		return s.appLimited(w, userID, "group_api", s.opts.GroupAPILimit, time.Minute)
	}
	return false
}
