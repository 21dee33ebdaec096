package upstream

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// Paging says how a listing pages. A listing with neither Page, Offset nor Link is
// one page.
type Paging struct {
	// Page is the query parameter of numbered pages (1, 2, …); Offset, for a
	// listing paged by position, that of the first item's (0, n, …).
	Page, Offset string
	// Size is the query parameter of the page size ("limit", "per_page"); PerPage
	// is the size asked for, which the upstream may cap silently.
	Size    string
	PerPage int
	// Link follows the Link header's rel="next" (keyset pagination, page tokens).
	// Only the link's query is used: every request stays on the configured base
	// URL whatever host the upstream names.
	Link bool
	// Total is the header with the total item count ("X-Total-Count", "X-Total"),
	// "" when the upstream sends none.
	Total string
	// Next is the header naming the next page ("X-Next-Page"), "" when none.
	Next string
	// Exact is set when every page but the last holds PerPage items, so that a
	// shorter page ends the listing; else only a page shorter than the first does
	// (upstreams that cap the size silently).
	Exact bool
	// MaxPages bounds the pages read; 0: no bound. Reaching it ends the walk with
	// the error Unended when that is set (a listing that must end, from an upstream
	// whose paging may loop), else silently (a lookup reads its first pages only).
	MaxPages int
	Unended  error
	// Ahead is how many numbered pages are fetched at once after the first, when
	// the first tells the total; they are still handed over in order.
	Ahead int
}

// PageAt is one page of a listing: its number (from 1) and the position of its
// first item, for listings whose requests name them (a mapping's templates).
type PageAt struct {
	Number, Offset int
	params         url.Values // what Query sets
	link           bool       // params are the next link's query, which replaces all
}

// at is page number at position offset; link is the query of the link that named
// it (nil: numbered or the first page).
func (p *Paging) at(number, offset int, link url.Values) PageAt {
	if link != nil {
		return PageAt{Number: number, Offset: offset, params: link, link: true}
	}
	q := url.Values{}
	switch {
	case p.Page != "":
		q.Set(p.Page, strconv.Itoa(number))
	case p.Offset != "":
		q.Set(p.Offset, strconv.Itoa(offset))
	}
	if p.Size != "" {
		q.Set(p.Size, strconv.Itoa(p.PerPage))
	}
	return PageAt{Number: number, Offset: offset, params: q}
}

// Query returns the query of the page's request: the next link's, or q with the
// page number or position and the size set.
func (at PageAt) Query(q url.Values) url.Values {
	if at.link {
		return maps.Clone(at.params)
	}
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	for k, v := range at.params {
		out[k] = v
	}
	return out
}

// Reader reads one page of a listing: its items, and the answer, whose headers
// tell the total and the next page.
type Reader[T any] func(ctx context.Context, at PageAt) ([]T, *Response, error)

// JSONArray reads the pages of a listing that answers r with a JSON array of T.
func JSONArray[T any](c *Client, r Request) Reader[T] {
	return func(ctx context.Context, at PageAt) ([]T, *Response, error) {
		r := r
		r.Query = at.Query(r.Query)
		var items []T
		resp, err := c.GetJSON(ctx, r, &items)
		return items, resp, err
	}
}

// EachPage reads a listing page after page with read and hands each page's items,
// in order, to each until it returns false or the listing ends: an empty page, a
// short page (see Exact), the total reached, no next page or link, or the one page
// of a listing that does not page.
func EachPage[T any](ctx context.Context, p Paging, read Reader[T], each func(items []T) bool) error {
	at := p.at(1, 0, nil)
	items, resp, err := read(ctx, at)
	if err != nil {
		return err
	}
	first := len(items) // what the upstream really gives a page
	total := -1
	if p.Total != "" {
		if n, err := strconv.Atoi(resp.Header.Get(p.Total)); err == nil {
			total = n
		}
	}
	for {
		if !each(items) || p.ends(at, len(items), first, total, resp) {
			return nil
		}
		if p.MaxPages > 0 && at.Number >= p.MaxPages {
			return p.Unended
		}
		if at.Number == 1 && total >= 0 && p.Ahead > 1 && !p.Link {
			return eachAhead(ctx, p, read, first, total, each)
		}
		var link url.Values
		if p.Link {
			link = NextLink(resp.Header.Get("Link")).Query()
		}
		at = p.at(at.Number+1, at.Offset+len(items), link)
		if items, resp, err = read(ctx, at); err != nil {
			return err
		}
	}
}

// ends reports whether page at, which held n items, is the last.
func (p *Paging) ends(at PageAt, n, first, total int, resp *Response) bool {
	switch {
	case n == 0:
		return true
	case p.Link:
		return NextLink(resp.Header.Get("Link")) == nil
	case p.Page == "" && p.Offset == "":
		return true
	case p.Exact && n < p.PerPage, !p.Exact && n < first:
		return true
	case total >= 0 && at.Offset+n >= total:
		return true
	}
	return p.Next != "" && strings.TrimSpace(resp.Header.Get(p.Next)) == ""
}

// eachAhead reads numbered pages 2… of a listing whose first page of size items
// told the total, p.Ahead at once.
func eachAhead[T any](ctx context.Context, p Paging, read Reader[T], size, total int, each func([]T) bool) error {
	pages := (total + size - 1) / size
	if p.MaxPages > 0 && pages > p.MaxPages {
		pages = p.MaxPages
	}
	for from := 2; from <= pages; from += p.Ahead {
		n := min(p.Ahead, pages-from+1)
		got := make([][]T, n)
		errs := adapters.Parallel(ctx, n, n, func(_ context.Context, i int) error {
			items, _, err := read(ctx, p.at(from+i, (from+i-1)*size, nil))
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
	p.PerPage = min(max(limit, 1), p.PerPage)
	read := JSONArray[T](c, r)
	want := adapters.Page{Offset: offset % p.PerPage, Limit: limit} // within the pages read
	var got []T
	for page, total := offset/p.PerPage+1, -1; ; page++ {
		items, resp, err := read(ctx, p.at(page, 0, nil))
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
		got = append(got, items...)
		if len(got)-want.Offset >= limit || len(items) < p.PerPage || (p.Next != "" && strings.TrimSpace(resp.Header.Get(p.Next)) == "") {
			w, _ := adapters.Window(got, want)
			return w, total, nil
		}
	}
}
