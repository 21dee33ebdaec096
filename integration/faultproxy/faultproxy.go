// Package faultproxy is a small HTTP fault injector for the integration tests: a
// reverse proxy in front of a real upstream that, for the requests a rule matches,
// adds latency, answers a status of its own (429 with Retry-After, 5xx, 401), stalls
// past any deadline, resets the connection before or after the upstream committed
// the request, or replaces the answer's body (truncated, oversized, malformed).
// Everything else passes through untouched. It lives on net/http: the faults are
// HTTP-level (statuses, bodies, a committed write whose answer is lost), which a
// TCP-level proxy cannot express.
package faultproxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is what a rule does to a matching request.
type Fault struct {
	// Method, PathPrefix and PathContains select requests ("" matches any).
	Method, PathPrefix, PathContains string
	// After lets the first After matching requests through untouched (a call
	// failing midway through a multi-call operation).
	After int
	// Times is how many matching requests get the fault (0: every one).
	Times int
	// Every gives the fault to one matching request in Every (0 or 1: each one),
	// a steady fault rate for load runs.
	Every int

	// Latency delays the request before anything else. With Late, a request whose
	// client gives up meanwhile still reaches the upstream once the latency is over
	// (a slow upstream that completes after the caller stopped waiting).
	Latency time.Duration
	Late    bool
	// Status answers this status without asking the upstream (429, 503, 401 …),
	// with RetryAfter seconds when set and Body as the answer.
	Status     int
	RetryAfter int
	// Stall holds the request this long (or until the client gives up) and then
	// resets the connection, without an answer; with AfterCommit the upstream has
	// committed it meanwhile.
	Stall time.Duration
	// Reset resets the connection without an answer; with AfterCommit the request
	// first reaches the upstream, which commits it: the answer is lost.
	Reset, AfterCommit bool
	// Body replaces the upstream's answer body (its status and headers kept), e.g.
	// a truncated, huge or malformed document; Size repeats it to that many bytes.
	Body []byte
	Size int
}

// Proxy is a running fault proxy.
type Proxy struct {
	URL string
	srv *httptest.Server
	rp  *httputil.ReverseProxy

	mu      sync.Mutex
	faults  []*Fault
	hits    map[*Fault]int
	matched map[*Fault]int
	seen    int
}

// New starts a proxy in front of target (http://host:port).
func New(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	p := &Proxy{rp: httputil.NewSingleHostReverseProxy(u), hits: map[*Fault]int{}, matched: map[*Fault]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// Add installs a fault; faults are tried in the order they were added.
func (p *Proxy) Add(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &f)
}

// Clear removes every fault.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults, p.hits, p.matched = nil, map[*Fault]int{}, map[*Fault]int{}
}

// Hits reports how many requests got a fault so far, and how many passed through.
func (p *Proxy) Hits() (faulted, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.hits {
		faulted += n
	}
	return faulted, p.seen
}

func (p *Proxy) match(r *http.Request) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen++
	for _, f := range p.faults {
		if (f.Method != "" && f.Method != r.Method) || !strings.HasPrefix(r.URL.Path, f.PathPrefix) ||
			!strings.Contains(r.URL.Path, f.PathContains) ||
			(f.Times > 0 && p.hits[f] >= f.Times) {
			continue
		}
		p.matched[f]++
		n := p.matched[f] - f.After // this request's place among those past After
		if n <= 0 || (f.Every > 1 && n%f.Every != 0) {
			continue
		}
		p.hits[f]++
		return f
	}
	return nil
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	f := p.match(r)
	if f == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			if f.Late {
				<-t.C
				p.rp.ServeHTTP(httptest.NewRecorder(), r.WithContext(context.WithoutCancel(r.Context())))
			}
			return
		}
	}
	switch {
	case f.Status != 0:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		_, _ = w.Write(f.Body)
	case f.Stall > 0:
		if f.AfterCommit {
			p.rp.ServeHTTP(httptest.NewRecorder(), r) // committed; the answer is held back
		}
		select {
		case <-time.After(f.Stall):
		case <-r.Context().Done():
		}
		reset(w)
	case f.Reset && f.AfterCommit:
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r) // the upstream commits; its answer is dropped
		reset(w)
	case f.Reset:
		reset(w)
	case f.Body != nil:
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r)
		body := f.Body
		if f.Size > len(body) {
			body = bytes.Repeat(body, f.Size/len(body)+1)[:f.Size]
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = io.Copy(w, bytes.NewReader(body))
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// reset closes the client's connection without an answer.
func reset(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
