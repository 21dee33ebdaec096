package gitlabemu

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// countLimit: above this many rows GitLab stops counting and omits X-Total,
// X-Total-Pages and rel="last" (upstreams.md §2.4).
const countLimit = 10000

func (s *Server) baseURL(c *reqCtx) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.r.Host
}

// pageParams reads page/per_page (PaginationParams); bad integers are Grape
// errors.
func (s *Server) pageParams(c *reqCtx, g *grapeErrs) (page, perPage int) {
	page, _, err := c.p.integer("page")
	g.add(err)
	perPage, present, err := c.p.integer("per_page")
	g.add(err)
	if page < 1 {
		page = 1
	}
	if !present || perPage < 1 {
		perPage = 20
	}
	if perPage > s.opts.MaxPerPage {
		perPage = s.opts.MaxPerPage
	}
	return page, perPage
}

// linkFor rebuilds the request URL with the given overrides, keys sorted as
// Rails' to_query does.
func (s *Server) linkFor(c *reqCtx, set map[string]string, drop ...string) string {
	q := url.Values{}
	for k, vs := range c.r.URL.Query() {
		if k == "private_token" {
			continue
		}
		q[k] = vs
	}
	for _, k := range drop {
		q.Del(k)
	}
	for k, v := range set {
		q.Set(k, v)
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range q[k] {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	return s.baseURL(c) + c.r.URL.EscapedPath() + "?" + strings.Join(parts, "&")
}

// offsetPage writes the offset pagination headers for total rows and
// returns the [lo,hi) window (Gitlab::Pagination::OffsetHeaderBuilder).
func (s *Server) offsetPage(c *reqCtx, total, page, perPage int) (lo, hi int) {
	h := c.w.Header()
	counted := total <= countLimit
	totalPages := (total + perPage - 1) / perPage
	if totalPages < 1 {
		totalPages = 1
	}
	lo = (page - 1) * perPage
	if lo > total {
		lo = total
	}
	hi = lo + perPage
	if hi > total {
		hi = total
	}
	next, prev := "", ""
	if hi < total {
		next = strconv.Itoa(page + 1)
	}
	if page > 1 {
		prev = strconv.Itoa(page - 1)
	}
	pp := strconv.Itoa(perPage)
	var links []string
	if prev != "" {
		links = append(links, fmt.Sprintf(`<%s>; rel="prev"`, s.linkFor(c, map[string]string{"page": prev, "per_page": pp})))
	}
	if next != "" {
		links = append(links, fmt.Sprintf(`<%s>; rel="next"`, s.linkFor(c, map[string]string{"page": next, "per_page": pp})))
	}
	links = append(links, fmt.Sprintf(`<%s>; rel="first"`, s.linkFor(c, map[string]string{"page": "1", "per_page": pp})))
	if counted {
		links = append(links, fmt.Sprintf(`<%s>; rel="last"`, s.linkFor(c, map[string]string{"page": strconv.Itoa(totalPages), "per_page": pp})))
	}
	h.Set("Link", strings.Join(links, ", "))
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", pp)
	h.Set("X-Next-Page", next)
	h.Set("X-Prev-Page", prev)
	if counted {
		h.Set("X-Total", strconv.Itoa(total))
		h.Set("X-Total-Pages", strconv.Itoa(totalPages))
	}
	return lo, hi
}

// keysetCursor is the opaque cursor of Gitlab::Pagination::Keyset: base64
// of {"id":"<last id>","_kd":"n"}.
type keysetCursor struct {
	ID string `json:"id"`
	KD string `json:"_kd"`
}

func encodeCursor(id int) string {
	b, _ := json.Marshal(keysetCursor{ID: strconv.Itoa(id), KD: "n"})
	return base64.URLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (int, bool) {
	b, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.StdEncoding.DecodeString(s); err != nil {
			return 0, false
		}
	}
	var kc keysetCursor
	if json.Unmarshal(b, &kc) != nil {
		return 0, false
	}
	n, err := strconv.Atoi(kc.ID)
	return n, err == nil
}
