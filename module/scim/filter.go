package scim

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on filters. They bound parse time and recursion depth for hostile input.
const (
	MaxFilterLength      = 4096 // bytes
	MaxFilterDepth       = 32   // nested parentheses and brackets
	MaxFilterComparisons = 100  // attribute expressions (incl. inside value paths)
)

// Expr is a parsed SCIM filter (RFC 7644 §3.4.2.2). The concrete types are
// *CompareExpr, *LogicalExpr, *NotExpr and *ValuePathExpr. String renders an
// equivalent filter that ParseFilter accepts again.
type Expr interface {
	String() string
	isExpr()
}

// AttrPath names an attribute, canonically spelled.
type AttrPath struct {
	URN  string // canonical extension URN; "" for core and common attributes
	Name string // canonical attribute name
	Sub  string // canonical sub-attribute, or ""
}

// String renders the path as a client would write it: the extension URN, when
// there is one, prefixes the name with a colon.
func (p AttrPath) String() string {
	s := p.Name
	if p.URN != "" {
		s = p.URN + ":" + s
	}
	if p.Sub != "" {
		s += "." + p.Sub
	}
	return s
}

// CompareExpr is an attribute expression: `Path Op Value`, or `Path pr`.
//
// Inside a ValuePathExpr the path is relative: Path.Name is a sub-attribute of the
// value path's attribute and URN and Sub are "". A comparison on a complex attribute
// without a sub-attribute (`emails co "x"`) is resolved by the parser to its "value"
// sub-attribute (`emails.value co "x"`).
type CompareExpr struct {
	Path  AttrPath
	Op    string // lower case: eq ne co sw ew pr gt ge lt le
	Value any    // string, bool, float64 or nil; nil for pr

	// Resolved by the parser; Match resolves on the fly when they are unset
	// (for hand-built expressions).
	leaf  *Attribute // attribute compared: the sub-attribute when there is one
	lower string     // Value lower-cased, for case-insensitive string operators
	at    time.Time  // Value as an instant, for dateTime attributes
	hasAt bool
	ready bool
}

// LogicalExpr is `Left and Right` or `Left or Right`.
type LogicalExpr struct {
	Op          string // "and" or "or"
	Left, Right Expr
}

// NotExpr is `not (X)`.
type NotExpr struct{ X Expr }

// ValuePathExpr is `Path[Filter]`: true when one value of the (multi-valued,
// complex) attribute matches Filter, whose paths are relative to the sub-attributes.
type ValuePathExpr struct {
	Path   AttrPath
	Filter Expr
}

func (*CompareExpr) isExpr()   {}
func (*LogicalExpr) isExpr()   {}
func (*NotExpr) isExpr()       {}
func (*ValuePathExpr) isExpr() {}

func (c *CompareExpr) String() string {
	var b strings.Builder
	c.write(&b)
	return b.String()
}

func (c *CompareExpr) write(b *strings.Builder) {
	b.WriteString(c.Path.String())
	b.WriteByte(' ')
	b.WriteString(c.Op)
	if c.Op == "pr" {
		return
	}
	b.WriteByte(' ')
	filterWriteValue(b, c.Value)
}

func (l *LogicalExpr) String() string {
	var b strings.Builder
	filterWrite(&b, l)
	return b.String()
}

func (n *NotExpr) String() string {
	var b strings.Builder
	filterWrite(&b, n)
	return b.String()
}

func (v *ValuePathExpr) String() string {
	var b strings.Builder
	filterWrite(&b, v)
	return b.String()
}

// filterWrite prints only the parentheses needed to rebuild the same tree, so that
// the output never nests deeper than the input did.
func filterWrite(b *strings.Builder, e Expr) {
	switch x := e.(type) {
	case *CompareExpr:
		x.write(b)
	case *LogicalExpr:
		lp := false
		if l, ok := x.Left.(*LogicalExpr); ok && x.Op == "and" && l.Op == "or" {
			lp = true
		}
		rp := false
		if r, ok := x.Right.(*LogicalExpr); ok && !(x.Op == "or" && r.Op == "and") {
			rp = true
		}
		filterWriteGroup(b, x.Left, lp)
		b.WriteByte(' ')
		b.WriteString(x.Op)
		b.WriteByte(' ')
		filterWriteGroup(b, x.Right, rp)
	case *NotExpr:
		b.WriteString("not ")
		filterWriteGroup(b, x.X, true)
	case *ValuePathExpr:
		b.WriteString(x.Path.String())
		b.WriteByte('[')
		filterWrite(b, x.Filter)
		b.WriteByte(']')
	case nil:
	default:
		b.WriteString(e.String())
	}
}

func filterWriteGroup(b *strings.Builder, e Expr, paren bool) {
	if paren {
		b.WriteByte('(')
	}
	filterWrite(b, e)
	if paren {
		b.WriteByte(')')
	}
}

func filterWriteValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case string:
		filterWriteString(b, x)
	default:
		b.WriteString("null")
	}
}

// filterWriteString writes s as a JSON string literal.
func filterWriteString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || c == 0x7f:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		b.WriteString(s[i : i+size]) // parsed input is valid UTF-8
		i += size
	}
	b.WriteByte('"')
}

// ParseFilter parses a filter and resolves every attribute against rt. Errors are
// *Error values, 400 invalidFilter, whose detail gives the position (1-based byte
// offset) and what was expected.
func ParseFilter(s string, rt *ResourceType) (Expr, error) {
	if len(s) > MaxFilterLength {
		return nil, BadRequest(ErrInvalidFilter, "filter is longer than %d bytes", MaxFilterLength)
	}
	if !utf8.ValidString(s) {
		return nil, BadRequest(ErrInvalidFilter, "filter is not valid UTF-8")
	}
	p := filterParser{s: s, rt: rt, scimType: ErrInvalidFilter}
	p.skipSpace()
	if p.pos == len(s) {
		return nil, p.errorf("empty filter")
	}
	e, err := p.parseOr(nil)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(s) {
		return nil, p.errorf("at position %d: unexpected %s after a complete filter", p.pos+1, p.describe())
	}
	return e, nil
}

type filterParser struct {
	s           string
	pos         int
	rt          *ResourceType
	depth       int
	comparisons int
	scimType    string // invalidFilter, or invalidPath when parsing a PATCH path
}

func (p *filterParser) errorf(format string, args ...any) *Error {
	return BadRequest(p.scimType, format, args...)
}

// filterQuote quotes input for an error detail, cut to 64 bytes so that a long
// value (possibly a secret pasted by mistake) is never echoed whole.
func filterQuote(s string) string {
	if len(s) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strconv.Quote(s)
}

// describe names the token at the current position for error details.
func (p *filterParser) describe() string {
	if p.pos >= len(p.s) {
		return "end of filter"
	}
	c := p.s[p.pos]
	switch c {
	case '(', ')', '[', ']', '.', '"':
		return "'" + string(c) + "'"
	}
	if w := p.peekWord(); w != "" {
		return filterQuote(w)
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.pos:])
	return strconv.QuoteRune(r)
}

func (p *filterParser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func filterIsWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == ':' || c == '.' || c == '_' || c == '-' || c == '$'
}

func (p *filterParser) peekWord() string {
	i := p.pos
	for i < len(p.s) && filterIsWordByte(p.s[i]) {
		i++
	}
	return p.s[p.pos:i]
}

func (p *filterParser) word() string {
	w := p.peekWord()
	p.pos += len(w)
	return w
}

// keyword consumes the keyword kw (case-insensitive) when it is the next word.
func (p *filterParser) keyword(kw string) bool {
	save := p.pos
	p.skipSpace()
	if w := p.peekWord(); len(w) == len(kw) && strings.EqualFold(w, kw) {
		p.pos += len(w)
		return true
	}
	p.pos = save
	return false
}

func (p *filterParser) parseOr(parent *filterScope) (Expr, error) {
	l, err := p.parseAnd(parent)
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.parseAnd(parent)
		if err != nil {
			return nil, err
		}
		l = &LogicalExpr{Op: "or", Left: l, Right: r}
	}
	return l, nil
}

func (p *filterParser) parseAnd(parent *filterScope) (Expr, error) {
	l, err := p.parseUnary(parent)
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.parseUnary(parent)
		if err != nil {
			return nil, err
		}
		l = &LogicalExpr{Op: "and", Left: l, Right: r}
	}
	return l, nil
}

// filterScope is the attribute a value filter is relative to.
type filterScope struct {
	urn  string
	attr *Attribute
}

func (p *filterParser) parseGroup(parent *filterScope) (Expr, error) {
	open := p.pos
	p.pos++ // '('
	p.depth++
	if p.depth > MaxFilterDepth {
		return nil, p.errorf("at position %d: filter nested deeper than %d levels", open+1, MaxFilterDepth)
	}
	e, err := p.parseOr(parent)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos >= len(p.s) || p.s[p.pos] != ')' {
		return nil, p.errorf("at position %d: expected ')' to close '(' at position %d, found %s", p.pos+1, open+1, p.describe())
	}
	p.pos++
	p.depth--
	return e, nil
}

func (p *filterParser) parseUnary(parent *filterScope) (Expr, error) {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return nil, p.errorf("at position %d: unexpected end of filter, expected an attribute path, '(' or 'not'", p.pos+1)
	}
	if p.s[p.pos] == '(' {
		return p.parseGroup(parent)
	}
	start := p.pos
	w := p.peekWord()
	if w == "" {
		return nil, p.errorf("at position %d: expected an attribute path, '(' or 'not', found %s", p.pos+1, p.describe())
	}
	if strings.EqualFold(w, "and") || strings.EqualFold(w, "or") {
		return nil, p.errorf("at position %d: expected an attribute path, '(' or 'not', found %s", p.pos+1, filterQuote(w))
	}
	if strings.EqualFold(w, "not") {
		p.pos += len(w)
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != '(' {
			return nil, p.errorf("at position %d: expected '(' after 'not', found %s", p.pos+1, p.describe())
		}
		x, err := p.parseGroup(parent)
		if err != nil {
			return nil, err
		}
		return &NotExpr{X: x}, nil
	}
	p.pos += len(w)
	path, leaf, err := p.resolve(w, start, parent)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.s) && p.s[p.pos] == '[' {
		return p.parseValuePath(path, leaf, start, parent)
	}
	return p.parseComparison(path, leaf, start)
}

var filterOps = [...]string{"eq", "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le"}

// filterOperator returns the lower-case operator for w, without allocating.
func filterOperator(w string) (string, bool) {
	if len(w) != 2 {
		return "", false
	}
	for _, op := range filterOps {
		if strings.EqualFold(w, op) {
			return op, true
		}
	}
	return "", false
}

// resolve turns an attribute path as written into its canonical form.
// Inside a value filter (parent != nil) the word names a sub-attribute.
func (p *filterParser) resolve(w string, at int, parent *filterScope) (AttrPath, *Attribute, error) {
	var path AttrPath
	var leaf *Attribute
	if parent != nil {
		s := parent.attr.Sub(w)
		if s == nil {
			return AttrPath{}, nil, p.errorf("at position %d: unknown sub-attribute %s of %s", at+1, filterQuote(w), parent.attr.Name)
		}
		path, leaf = AttrPath{Name: s.Name}, s
	} else {
		var top, sub *Attribute
		var err *Error
		path, top, sub, err = filterResolvePath(p.rt, w)
		if err != nil {
			return AttrPath{}, nil, p.errorf("at position %d: %s", at+1, err.Detail)
		}
		leaf = top
		if sub != nil {
			leaf = sub
		}
	}
	// A filter on an attribute that is never returned (password) would answer an
	// empty list as if nobody matched: it is refused instead. PATCH paths may name it.
	if p.scimType == ErrInvalidFilter && leaf != nil && leaf.Returned == ReturnedNever {
		return AttrPath{}, nil, p.errorf("at position %d: %s is never returned, so a filter cannot test it", at+1, filterQuote(w))
	}
	return path, leaf, nil
}

// filterResolvePath resolves `[URN ":"] name ["." sub]`. The attribute name follows
// the last colon, because schema URNs contain dots ("…:2.0:User"). A bare
// extension URN resolves to AttrPath{URN: urn} with a nil attribute.
func filterResolvePath(rt *ResourceType, w string) (AttrPath, *Attribute, *Attribute, *Error) {
	prefix, rest := "", w
	if len(w) > 4 && strings.EqualFold(w[:4], "urn:") {
		i := strings.LastIndexByte(w, ':')
		prefix, rest = w[:i], w[i+1:]
	}
	name, sub, dotted := strings.Cut(rest, ".")
	full := name
	if prefix != "" {
		full = prefix + ":" + name
	}
	urn, a, ok := rt.LookupAttr(full)
	if !ok {
		if prefix != "" {
			if e := rt.Extension(w); e != nil {
				return AttrPath{URN: e.ID}, nil, nil, nil
			}
		}
		return AttrPath{}, nil, nil, &Error{Detail: "unknown attribute " + filterQuote(w)}
	}
	path := AttrPath{URN: urn, Name: a.Name}
	if !dotted {
		return path, a, nil, nil
	}
	if a.Type != TypeComplex {
		return AttrPath{}, nil, nil, &Error{Detail: "attribute " + a.Name + " has no sub-attributes, got " + filterQuote(w)}
	}
	s := a.Sub(sub)
	if s == nil {
		return AttrPath{}, nil, nil, &Error{Detail: "unknown sub-attribute " + filterQuote(sub) + " of " + a.Name}
	}
	path.Sub = s.Name
	return path, a, s, nil
}

func (p *filterParser) parseValuePath(path AttrPath, attr *Attribute, start int, parent *filterScope) (Expr, error) {
	open := p.pos
	if parent != nil {
		return nil, p.errorf("at position %d: value filters cannot be nested", open+1)
	}
	if path.Sub != "" || attr == nil || attr.Type != TypeComplex {
		return nil, p.errorf("at position %d: a value filter needs a complex attribute, %s is not one", open+1, filterQuote(path.String()))
	}
	p.pos++ // '['
	p.depth++
	if p.depth > MaxFilterDepth {
		return nil, p.errorf("at position %d: filter nested deeper than %d levels", open+1, MaxFilterDepth)
	}
	f, err := p.parseOr(&filterScope{urn: path.URN, attr: attr})
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos >= len(p.s) || p.s[p.pos] != ']' {
		return nil, p.errorf("at position %d: expected ']' to close '[' at position %d, found %s", p.pos+1, open+1, p.describe())
	}
	p.pos++
	p.depth--
	vp := &ValuePathExpr{Path: path, Filter: f}
	if p.scimType == ErrInvalidFilter && p.pos < len(p.s) && p.s[p.pos] == '.' {
		// Not RFC grammar, but clients send `emails[type eq "work"].value eq "x"`;
		// it means the same as `emails[type eq "work" and value eq "x"]`.
		p.pos++
		at := p.pos
		w := p.word()
		s := attr.Sub(w)
		if s == nil {
			return nil, p.errorf("at position %d: unknown sub-attribute %s of %s", at+1, filterQuote(w), attr.Name)
		}
		c, err := p.parseComparison(AttrPath{Name: s.Name}, s, start)
		if err != nil {
			return nil, err
		}
		vp.Filter = &LogicalExpr{Op: "and", Left: f, Right: c}
	}
	return vp, nil
}

func (p *filterParser) parseComparison(path AttrPath, leaf *Attribute, start int) (Expr, error) {
	if leaf == nil {
		return nil, p.errorf("at position %d: %s is a schema, not an attribute", start+1, filterQuote(path.String()))
	}
	p.skipSpace()
	opAt := p.pos
	w := p.word()
	if w == "" {
		return nil, p.errorf("at position %d: expected an operator after %s, found %s", opAt+1, filterQuote(path.String()), p.describe())
	}
	op, ok := filterOperator(w)
	if !ok {
		return nil, p.errorf("at position %d: unknown operator %s, expected one of eq ne co sw ew pr gt ge lt le", opAt+1, filterQuote(w))
	}
	p.comparisons++
	if p.comparisons > MaxFilterComparisons {
		return nil, p.errorf("filter has more than %d comparisons", MaxFilterComparisons)
	}
	c := &CompareExpr{Path: path, Op: op}
	if op == "pr" {
		c.prepare(leaf)
		return c, nil
	}
	p.skipSpace()
	valAt := p.pos
	v, raw, err := p.parseValue(op)
	if err != nil {
		return nil, err
	}
	c.Value = v
	if leaf.Type == TypeComplex && v != nil {
		// `emails co "x"` compares the value sub-attribute (RFC 7644 §3.4.2.2)
		vs := leaf.Sub("value")
		if vs == nil {
			return nil, p.errorf("at position %d: %s is complex; compare one of its sub-attributes", start+1, filterQuote(path.String()))
		}
		c.Path.Sub = vs.Name
		leaf = vs
	}
	if _, isNum := v.(float64); isNum && filterIsStringType(leaf) {
		// a number written without quotes for a string attribute (employeeNumber eq 42)
		c.Value = raw
	}
	if err := filterTypeCheck(c, leaf); err != nil {
		return nil, p.errorf("at position %d: %s", valAt+1, err.Detail)
	}
	c.prepare(leaf)
	return c, nil
}

// parseValue reads compValue: a JSON string, true, false, null or a number. raw is
// the literal text of a number.
func (p *filterParser) parseValue(op string) (any, string, *Error) {
	if p.pos >= len(p.s) {
		return nil, "", p.errorf("at position %d: unexpected end of filter, expected a value after %s", p.pos+1, op)
	}
	if p.s[p.pos] == '"' {
		s, err := p.parseString()
		return s, "", err
	}
	at := p.pos
	i := p.pos
	for i < len(p.s) {
		c := p.s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ')' || c == ']' || c == '(' || c == '[' {
			break
		}
		i++
	}
	w := p.s[p.pos:i]
	switch {
	case w == "":
		return nil, "", p.errorf("at position %d: expected a value after %s, found %s", at+1, op, p.describe())
	case strings.EqualFold(w, "true"):
		p.pos = i
		return true, "", nil
	case strings.EqualFold(w, "false"):
		p.pos = i
		return false, "", nil
	case strings.EqualFold(w, "null"):
		p.pos = i
		return nil, "", nil
	}
	if filterIsJSONNumber(w) {
		if f, err := strconv.ParseFloat(w, 64); err == nil {
			p.pos = i
			return f, w, nil
		}
	}
	return nil, "", p.errorf("at position %d: invalid value %s, expected a quoted string, a number, true, false or null", at+1, filterQuote(w))
}

// filterIsJSONNumber checks the JSON number grammar, which is stricter than
// ParseFloat (no hex, no Inf, no leading '+', no "1.").
func filterIsJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// parseString decodes a JSON string literal starting at the opening quote.
func (p *filterParser) parseString() (string, *Error) {
	open := p.pos
	i := p.pos + 1
	// fast path: no escapes, no allocation
	for j := i; j < len(p.s); j++ {
		c := p.s[j]
		if c == '"' {
			p.pos = j + 1
			return p.s[i:j], nil
		}
		if c == '\\' {
			break
		}
	}
	var b strings.Builder
	for i < len(p.s) {
		c := p.s[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return b.String(), nil
		case c == '\\':
			if i+1 >= len(p.s) {
				i++
				continue
			}
			e := p.s[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, ok := filterHex4(p.s, i)
				if !ok {
					return "", p.errorf("at position %d: invalid \\u escape in string", i-1)
				}
				i += 4
				if r >= 0xd800 && r < 0xdc00 {
					if i+1 < len(p.s) && p.s[i] == '\\' && p.s[i+1] == 'u' {
						if r2, ok := filterHex4(p.s, i+2); ok && r2 >= 0xdc00 && r2 < 0xe000 {
							i += 6
							r = (r-0xd800)<<10 + (r2 - 0xdc00) + 0x10000
						} else {
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				} else if r >= 0xdc00 && r < 0xe000 {
					r = utf8.RuneError
				}
				b.WriteRune(r)
			default:
				return "", p.errorf("at position %d: invalid escape '\\%c' in string", i-1, e)
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", p.errorf("at position %d: unterminated string", open+1)
}

func filterHex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}

// filterTypeCheck rejects comparisons the schema makes meaningless (RFC 7644
// §3.4.2.2: gt/ge/lt/le on boolean or binary is invalidFilter) and converts
// string booleans ("true") for boolean attributes.
// Complex attributes reach it only with a null value (`name eq null`).
func filterTypeCheck(c *CompareExpr, leaf *Attribute) *Error {
	name := leaf.Name
	if c.Path.Sub != "" {
		name = c.Path.Name + "." + c.Path.Sub
	}
	if c.Value == nil {
		if c.Op == "eq" || c.Op == "ne" {
			return nil
		}
		return &Error{Detail: "operator " + c.Op + " needs a non-null value"}
	}
	ordering := c.Op == "gt" || c.Op == "ge" || c.Op == "lt" || c.Op == "le"
	substr := c.Op == "co" || c.Op == "sw" || c.Op == "ew"
	switch leaf.Type {
	case TypeComplex:
		return &Error{Detail: name + " is complex; compare one of its sub-attributes"}
	case TypeBoolean:
		if ordering || substr {
			return &Error{Detail: "operator " + c.Op + " is not defined for boolean attribute " + name}
		}
		if s, ok := c.Value.(string); ok {
			switch {
			case strings.EqualFold(s, "true"):
				c.Value = true
			case strings.EqualFold(s, "false"):
				c.Value = false
			}
		}
		if _, ok := c.Value.(bool); !ok {
			return &Error{Detail: "attribute " + name + " is boolean, expected true or false"}
		}
	case TypeDecimal, TypeInteger:
		if _, ok := c.Value.(float64); !ok {
			return &Error{Detail: "attribute " + name + " is numeric, expected a number"}
		}
		if substr {
			return &Error{Detail: "operator " + c.Op + " is not defined for numeric attribute " + name}
		}
	case TypeDateTime:
		s, ok := c.Value.(string)
		if !ok {
			return &Error{Detail: "attribute " + name + " is a dateTime, expected a quoted RFC 3339 timestamp"}
		}
		if !substr {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				return &Error{Detail: "invalid dateTime " + filterQuote(s) + " for " + name + ", expected RFC 3339 like \"2024-01-02T15:04:05Z\""}
			}
		}
	default: // string, reference, binary
		if _, ok := c.Value.(string); !ok {
			return &Error{Detail: "attribute " + name + " is a string, expected a quoted value"}
		}
		if ordering && leaf.Type == TypeBinary {
			return &Error{Detail: "operator " + c.Op + " is not defined for binary attribute " + name}
		}
	}
	return nil
}

func filterIsStringType(a *Attribute) bool {
	return a.Type == TypeString || a.Type == TypeReference || a.Type == TypeBinary
}

// prepare caches what evaluation needs, so that Match does not allocate.
func (c *CompareExpr) prepare(leaf *Attribute) {
	c.leaf = leaf
	if s, ok := c.Value.(string); ok {
		c.lower = strings.ToLower(s)
		if leaf.Type == TypeDateTime {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				c.at, c.hasAt = t, true
			}
		}
	}
	c.ready = true
}

// Mentions reports whether e names the top-level attribute name (core or extension,
// inside value paths and negations too): a query whose filter mentions a group's
// members must load them.
func Mentions(e Expr, name string) bool {
	switch x := e.(type) {
	case *CompareExpr:
		return strings.EqualFold(x.Path.Name, name)
	case *LogicalExpr:
		return Mentions(x.Left, name) || Mentions(x.Right, name)
	case *NotExpr:
		return Mentions(x.X, name)
	case *ValuePathExpr:
		return strings.EqualFold(x.Path.Name, name)
	}
	return false
}
