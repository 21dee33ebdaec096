package integration_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// rawRequest writes head (request line and headers) to a new connection, then feeds
// body from the returned writer function until it returns; the status of the answer
// is read concurrently (a server may answer before the body is done).
func rawRequest(addr, head string, feed func(w io.Writer) error) (status int, err error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	answered := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			answered <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	if _, err := io.WriteString(c, head+"\r\n"); err != nil {
		return 0, err
	}
	stop := make(chan struct{})
	fed := make(chan error, 1)
	go func() { fed <- feed(stopWriter{c, stop}) }()
	select {
	case st := <-answered:
		close(stop)
		return st, nil
	case err := <-fed:
		if st := <-answered; st != 0 {
			return st, nil
		}
		return 0, fmt.Errorf("no answer (body: %v)", err)
	}
}

// stopWriter fails writes once stop is closed, ending a feed.
type stopWriter struct {
	w    io.Writer
	stop chan struct{}
}

func (s stopWriter) Write(p []byte) (int, error) {
	select {
	case <-s.stop:
		return 0, io.ErrClosedPipe
	default:
		return s.w.Write(p)
	}
}

// TestSlowAndLargeClients (#14): 200 clients that send their bodies a few bytes at a
// time (half of them with the IdP's token) and 20 that send 64 MiB bodies, against
// a real Caddy and Gitea: Caddy's memory stays bounded, the IdP's own requests are
// served meanwhile, the slow bodies end in 408 (authenticated, at the request's
// timeout) or 401 (at once, before any body is read), the large ones in 413, and
// nothing reaches Gitea.
func TestSlowAndLargeClients(t *testing.T) {
	b := giteaBackend{testenv.Gitea(t)}
	e := start(t, b, "timeout 8s", "")
	addr := strings.TrimPrefix(e.caddy.URL, "http://")
	before := b.count(t)

	type outcome struct {
		kind   string
		status int
		err    error
		took   time.Duration
	}
	var wg sync.WaitGroup
	outcomes := make(chan outcome, 220)
	head := func(path, token, length string) string {
		h := "POST /scim/v2" + path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/scim+json\r\n" + length
		if token != "" {
			h += "Authorization: Bearer " + token + "\r\n"
		}
		return h
	}
	for i := range 200 {
		token, kind := scimToken, "slow, with the token"
		if i%2 == 1 {
			token, kind = "not-the-token", "slow, without a token"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			st, err := rawRequest(addr, head("/Users", token, "Content-Length: 524288\r\n"), func(w io.Writer) error {
				chunk := []byte(`{"userName":"slow`)
				for {
					if _, err := w.Write(chunk[:8]); err != nil {
						return err
					}
					time.Sleep(250 * time.Millisecond)
				}
			})
			outcomes <- outcome{kind, st, err, time.Since(t0)}
		}()
	}
	for i := range 20 {
		length, kind := "Content-Length: 67108864\r\n", "64 MiB, with a length"
		if i%2 == 1 {
			length, kind = "Transfer-Encoding: chunked\r\n", "64 MiB, chunked"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			st, err := rawRequest(addr, head("/Users", scimToken, length), func(w io.Writer) error {
				block := []byte(strings.Repeat(`{"userName":"big"}`, 3641)) // 64 KiB
				for range 1024 {
					var err error
					if i%2 == 1 {
						_, err = fmt.Fprintf(w, "%x\r\n%s\r\n", len(block), block)
					} else {
						_, err = w.Write(block)
					}
					if err != nil {
						return err
					}
				}
				return nil
			})
			outcomes <- outcome{kind, st, err, time.Since(t0)}
		}()
	}

	// the IdP's own traffic meanwhile
	time.Sleep(time.Second)
	run := testenv.UniqueName("busy")
	var slowest time.Duration
	created := 0
	for i := range 20 {
		t0 := time.Now()
		login := fmt.Sprintf("%s-%d@example.com", run, i)
		id := str(e.c.do("POST", "/Users", oktaUser(login, "ext-"+login)).want(t, 201).JSON, "id")
		created++
		e.c.do("GET", "/Users/"+id, nil).want(t, 200)
		if got := resources(t, e.c.do("GET", "/Users?"+filterQuery(`userName eq "`+login+`"`), nil).want(t, 200)); len(got) != 1 {
			t.Fatalf("filter found %v", got)
		}
		slowest = max(slowest, time.Since(t0))
	}
	wg.Wait()
	close(outcomes)
	counts := map[string]map[int]int{}
	longest := map[string]time.Duration{}
	for o := range outcomes {
		longest[o.kind] = max(longest[o.kind], o.took.Round(time.Millisecond))
		if counts[o.kind] == nil {
			counts[o.kind] = map[int]int{}
		}
		counts[o.kind][o.status]++
		if o.err != nil {
			t.Errorf("%s: %v", o.kind, o.err)
		}
	}
	rss := e.caddy.PeakRSS()
	t.Logf("longest answer by kind: %v", longest)
	t.Logf("answers by kind and status: %v; the IdP's create+get+filter took at most %s meanwhile; Caddy peak RSS %.0f MiB", counts, slowest.Round(time.Millisecond), rss)
	want := map[string]int{"slow, with the token": 408, "slow, without a token": 401, "64 MiB, with a length": 413, "64 MiB, chunked": 413}
	for kind, status := range want {
		n := 100
		if strings.HasPrefix(kind, "64 MiB") {
			n = 10
		}
		if counts[kind][status] != n {
			t.Errorf("%s: answers %v, want %d × %d", kind, counts[kind], n, status)
		}
	}
	if rss > 250 {
		t.Errorf("Caddy's peak RSS was %.0f MiB, want it bounded (≤ 250)", rss)
	}
	if n := b.count(t); n != before+created {
		t.Errorf("gitea has %d users, want %d: a slow or large body reached it", n, before+created)
	}
}
