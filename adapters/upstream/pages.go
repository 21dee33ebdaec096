package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// Paging describes a listing in numbered pages (page=1, 2, …).
type Paging struct {
	// Page and Size are the query parameters: "page", and "limit" or "per_page".
	Page, Size string
	// PerPage is the page size asked for; the upstream may cap it silently.
	PerPage int
	// Total is the header with the total item count ("X-Total-Count", "X-Total"),
	// "" when the upstream sends none.
	Total string
	// Next is the header naming the next page ("X-Next-Page"), "" when none.
	Next string
	// MaxPages bounds the pages read; 0: no bound.
	MaxPages int
	// Ahead is how many pages are fetched at once after the first, when the first
	// tells the total; they are still handed over in order.
	Ahead int
}

// Walk GETs the pages of a JSON-array listing from page 1 and hands each page's
// items, in order, to each until it returns false or the listing ends: an empty
// page, a page shorter than the first, the total reached, or no next page.
func Walk[T any](ctx context.Context, c *Client, r Request, p Paging, each func(items []T) bool) error {
	fetch := func(page int) ([]T, *Response, error) { return getPage[T](ctx, c, r, p, page, p.PerPage) }
	first, resp, err := fetch(1)
	if err != nil {
		return err
	}
	if !each(first) {
		return nil
	}
	size := len(first) // what the upstream really gives a page
	total, hasTotal := -1, false
	if p.Total != "" {
		if n, err := strconv.Atoi(resp.Header.Get(p.Total)); err == nil {
			total, hasTotal = n, true
		}
	}
	last := func(page, n int, resp *Response) bool {
		return n == 0 || n < size || (hasTotal && page*size >= total) ||
			(p.Next != "" && strings.TrimSpace(resp.Header.Get(p.Next)) == "") ||
			(p.MaxPages > 0 && page >= p.MaxPages)
	}
	if last(1, size, resp) {
		return nil
	}
	if hasTotal && p.Ahead > 1 {
		pages := (total + size - 1) / size
		if p.MaxPages > 0 {
			pages = min(pages, p.MaxPages)
		}
		for from := 2; from <= pages; from += p.Ahead {
			n := min(p.Ahead, pages-from+1)
			got := make([][]T, n)
			errs := adapters.Parallel(ctx, n, n, func(_ context.Context, i int) error {
				items, _, err := fetch(from + i)
				got[i] = items
				return err
			})
			for i := range got {
				if errs[i] != nil {
					return errs[i]
				}
				if !each(got[i]) || len(got[i]) < size {
					return nil
				}
			}
		}
		return nil
	}
	for page := 2; ; page++ {
		items, resp, err := fetch(page)
		if err != nil {
			return err
		}
		if !each(items) || last(page, len(items), resp) {
			return nil
		}
	}
}

// getPage GETs page number page of size items of the listing r.
func getPage[T any](ctx context.Context, c *Client, r Request, p Paging, page, size int) ([]T, *Response, error) {
	q := url.Values{}
	for k, v := range r.Query {
		q[k] = v
	}
	q.Set(p.Page, strconv.Itoa(page))
	q.Set(p.Size, strconv.Itoa(size))
	r.Query = q
	var items []T
	resp, err := c.GetJSON(ctx, r, &items)
	return items, resp, err
}

// NextLink returns the URL of rel="next" in a Link header, or nil.
func NextLink(h string) *url.URL {
	for _, part := range strings.Split(h, ",") {
		seg := strings.Split(part, ";")
		if len(seg) < 2 {
			continue
		}
		for _, attr := range seg[1:] {
			if strings.ReplaceAll(strings.TrimSpace(attr), " ", "") == `rel="next"` {
				if u, err := url.Parse(strings.Trim(strings.TrimSpace(seg[0]), "<>")); err == nil {
					return u
				}
			}
		}
	}
	return nil
}

// ErrNoWindow is what Window returns when the upstream does not tell the total
// (GitLab stops counting above 10 000 rows) or refuses a deep offset (405): the
// caller walks the listing instead.
var ErrNoWindow = errors.New("upstream: the listing cannot be read by offset")

// Window reads the items [offset, offset+limit) of a numbered-page listing and the
// total from the p.Total header, asking pages of limit items (at most p.PerPage) so
// that a window costs about one page. limit 0 asks only for the total.
func Window[T any](ctx context.Context, c *Client, r Request, p Paging, offset, limit int) ([]T, int, error) {
	offset, limit = max(offset, 0), max(limit, 0)
	per := min(max(limit, 1), p.PerPage)
	page, skip := offset/per+1, offset%per
	var out []T
	for total := -1; ; page++ {
		items, resp, err := getPage[T](ctx, c, r, p, page, per)
		if resp != nil && resp.Status == http.StatusMethodNotAllowed {
			return nil, 0, ErrNoWindow
		}
		if err != nil {
			return nil, 0, err
		}
		if total < 0 {
			if total, err = strconv.Atoi(resp.Header.Get(p.Total)); err != nil {
				return nil, 0, ErrNoWindow
			}
		}
		if limit == 0 {
			return nil, total, nil
		}
		if skip < len(items) {
			out = append(out, items[skip:]...)
		}
		skip = 0
		if len(out) >= limit || len(items) < per || (p.Next != "" && strings.TrimSpace(resp.Header.Get(p.Next)) == "") {
			return out[:min(len(out), limit)], total, nil
		}
	}
}
