package bench_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// client is shared by every load generator: keep-alive connections, enough of them
// for concurrency 64 so that no cell measures connection setup.
var client = &http.Client{
	Timeout: 60 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// call sends one request and checks the status; body may be nil.
func call(method, url, auth string, body []byte, want int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return b, fmt.Errorf("%s %s: status %d, want %d: %.300s", method, url, resp.StatusCode, want, b)
	}
	return b, nil
}

// result is one measured batch.
type result struct {
	n, errs  int
	elapsed  time.Duration
	lat      []time.Duration // sorted
	firstErr error
}

func (r result) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.n) / r.elapsed.Seconds()
}

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat)-1) * p)
	return r.lat[i]
}

// load runs f from conc workers until dur has passed or max requests were started
// (max <= 0: no count bound). f gets the worker number and a global sequence number.
func load(conc int, dur time.Duration, max int, f func(w, i int) error) result {
	var next atomic.Int64
	var mu sync.Mutex
	var res result
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1024)
			errs := 0
			var first error
			for {
				i := int(next.Add(1)) - 1
				if (max > 0 && i >= max) || (dur > 0 && time.Now().After(deadline)) {
					break
				}
				t0 := time.Now()
				err := f(w, i)
				d := time.Since(t0)
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, d)
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errs += errs
			if res.firstErr == nil {
				res.firstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.n = len(res.lat)
	slices.Sort(res.lat)
	return res
}

// interleaveSlice is how long one target runs before the next takes its turn.
const interleaveSlice = time.Second

// interleave measures several targets under the same conditions: they run in turns of
// interleaveSlice until each has run for dur (or has been sent max requests), so that
// a drift in the machine's load (other processes, Gitea's own housekeeping) falls on
// all of them alike instead of on whichever ran last. Target k numbers its requests
// from k*1e6 on, so writes of different targets never carry the same value (a write
// that changes nothing would not reach Gitea).
func interleave(conc int, dur time.Duration, max int, fs ...func(w, i int) error) []result {
	out := make([]result, len(fs))
	sent := make([]int, len(fs))
	for {
		active := false
		for k, f := range fs {
			if out[k].elapsed >= dur || (max > 0 && sent[k] >= max) {
				continue
			}
			active = true
			left := 0
			if max > 0 {
				left = max - sent[k]
			}
			base := k*1_000_000 + sent[k]
			r := load(conc, min(interleaveSlice, dur-out[k].elapsed), left, func(w, i int) error { return f(w, base+i) })
			sent[k] += r.n + r.errs
			out[k] = merge(out[k], r)
		}
		if !active {
			for k := range out {
				slices.Sort(out[k].lat)
			}
			return out
		}
	}
}

// merge adds batch b to a; a.lat is left unsorted (interleave sorts it once).
func merge(a, b result) result {
	a.n += b.n
	a.errs += b.errs
	a.elapsed += b.elapsed
	if a.firstErr == nil {
		a.firstErr = b.firstErr
	}
	a.lat = append(a.lat, b.lat...)
	return a
}

// metric sums the samples of a Prometheus text series (any labels) at url.
func metric(url, name string) (float64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, err
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("%s: no series %s", url, name)
	}
	return sum, nil
}

// peakRSS reads a process's peak RSS in MiB.
func peakRSS(pid int) float64 { return testenv.PeakRSS(pid) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }
