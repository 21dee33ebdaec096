package scim

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// An objectCodec describes how a Go struct T maps onto a JSON object: one fieldCodec
// per attribute, each with its JSON name, its kind and an accessor into T. Generic
// code walks the description in three directions, each giving what encoding/json
// gives with the struct's json tags, without reflection or a JSON round trip (but
// for Go values that have no place in a Resource, see jsonValue):
//
//   - toMap: T as json.Marshal then json.Unmarshal into a map would give it;
//   - decode: a map into T as json.Marshal of the map then json.Unmarshal into T
//     would fill it, errors included;
//   - appendJSON: the bytes json.Marshal gives for the map toMap returns.
//
// Adding an attribute is adding the struct field and its one fieldCodec.
type objectCodec[T any] struct {
	typeName string          // as encoding/json names T in errors: "scim.Name"
	fields   []fieldCodec[T] // in struct order
	sorted   []fieldCodec[T] // by name: the order json.Marshal writes a map's keys
	byLen    [][]uint8       // indices in fields by the length of the name
}

type fieldKind uint8

const (
	kindString fieldKind = iota
	kindBool
	kindNested // a list of, or a pointer to, objects of another codec
)

// fieldCodec is one attribute of T. Build it with strField, boolField, listField or objectField.
type fieldCodec[T any] struct {
	name       string
	kind       fieldKind
	omitEmpty  bool // as the json tag's omitempty; only booleans may lack it
	dropsEmpty bool // objects: see dropEmpty
	str        func(*T) *string
	flag       func(*T) *bool
	nested     nestedField[T]
}

// nestedField is a field whose value is encoded by the codec of another type. A
// value is left out of maps and JSON when it is a nil or empty list, a nil pointer,
// or, with dropEmpty, an object of nothing but empty fields.
type nestedField[T any] interface {
	empty(t *T, dropEmpty bool) bool
	toAny(t *T, dropEmpty bool) any // nil when left out
	// appendMember writes "key":value with its comma, or nothing when left out.
	appendMember(dst []byte, key string, t *T, dropEmpty bool) []byte
	decode(t *T, v any, sorted bool) *decodeError
}

// strField describes an omitempty string attribute.
func strField[T any](name string, get func(*T) *string) fieldCodec[T] {
	return fieldCodec[T]{name: name, kind: kindString, omitEmpty: true, str: get}
}

// boolField describes an omitempty boolean attribute; see keepFalse.
func boolField[T any](name string, get func(*T) *bool) fieldCodec[T] {
	return fieldCodec[T]{name: name, kind: kindBool, omitEmpty: true, flag: get}
}

// keepFalse renders a boolean when false too (a json tag without omitempty).
func (f fieldCodec[T]) keepFalse() fieldCodec[T] {
	f.omitEmpty = false
	return f
}

// listField describes an omitempty list of objects of type E.
func listField[T, E any](name string, get func(*T) *[]E, c *objectCodec[E]) fieldCodec[T] {
	return fieldCodec[T]{name: name, kind: kindNested, omitEmpty: true, nested: sliceField[T, E]{get, c}}
}

// objectField describes an omitempty pointer to an object of type E.
func objectField[T, E any](name string, get func(*T) **E, c *objectCodec[E]) fieldCodec[T] {
	return fieldCodec[T]{name: name, kind: kindNested, omitEmpty: true, nested: pointerField[T, E]{get, c}}
}

// dropEmpty leaves an object out where it would be rendered as {}: an empty complex
// attribute or extension is unassigned (this is where the rendering of a resource
// differs from encoding/json, which writes {}). Decoding is not affected.
func (f fieldCodec[T]) dropEmpty() fieldCodec[T] {
	f.dropsEmpty = true
	return f
}

func newObjectCodec[T any](fields ...fieldCodec[T]) *objectCodec[T] {
	if len(fields) > 64 {
		panic("scim: more than 64 attributes in one object") // see decode's seen
	}
	c := &objectCodec[T]{typeName: reflect.TypeFor[T]().String(), fields: fields, sorted: slices.Clone(fields)}
	slices.SortFunc(c.sorted, func(a, b fieldCodec[T]) int { return strings.Compare(a.name, b.name) })
	for i, f := range fields {
		if c.field(f.name) != nil {
			panic("scim: attribute " + f.name + " described twice")
		}
		if strings.ContainsFunc(f.name, func(r rune) bool { return r >= utf8.RuneSelf }) {
			panic("scim: attribute " + f.name + " is not ASCII") // see fieldIndex
		}
		if n := len(f.name); n >= len(c.byLen) {
			c.byLen = append(c.byLen, make([][]uint8, n+1-len(c.byLen))...)
		}
		c.byLen[len(f.name)] = append(c.byLen[len(f.name)], uint8(i))
	}
	return c
}

// field finds the field a key sets as encoding/json does: the exact name, else one
// that matches it case-insensitively (Unicode simple folding, as strings.EqualFold).
func (c *objectCodec[T]) field(key string) *fieldCodec[T] {
	i := c.fieldIndex(key)
	if i < 0 {
		return nil
	}
	return &c.fields[i]
}

func (c *objectCodec[T]) fieldIndex(key string) int {
	var sameLen []uint8
	if len(key) < len(c.byLen) {
		sameLen = c.byLen[len(key)]
	}
	for _, i := range sameLen {
		if c.fields[i].name == key {
			return int(i)
		}
	}
	ascii := true
	for i := 0; i < len(key) && ascii; i++ {
		ascii = key[i] < utf8.RuneSelf
	}
	if ascii { // folds only onto (ASCII) names as long as itself
		for _, i := range sameLen {
			if strings.EqualFold(key, c.fields[i].name) {
				return int(i)
			}
		}
		return -1
	}
	for i := range c.fields {
		if strings.EqualFold(key, c.fields[i].name) {
			return i
		}
	}
	return -1
}

// keysBefore is the number of fields whose name sorts before key: where a member
// that is not a field (meta, schemas) goes among the sorted fields.
func (c *objectCodec[T]) keysBefore(key string) int {
	n, _ := slices.BinarySearchFunc(c.sorted, key, func(f fieldCodec[T], k string) int { return strings.Compare(f.name, k) })
	return n
}

func (c *objectCodec[T]) isEmpty(t *T) bool {
	for i := range c.fields {
		if !c.fields[i].empty(t) {
			return false
		}
	}
	return true
}

func (f *fieldCodec[T]) empty(t *T) bool {
	switch f.kind {
	case kindString:
		return *f.str(t) == ""
	case kindBool:
		return f.omitEmpty && !*f.flag(t)
	}
	return f.nested.empty(t, f.dropsEmpty)
}

// toMap renders t, leaving room for extra more keys.
func (c *objectCodec[T]) toMap(t *T, extra int) map[string]any {
	m := make(map[string]any, min(len(c.fields), 8)+extra)
	for i := range c.fields {
		f := &c.fields[i]
		switch f.kind {
		case kindString:
			if s := *f.str(t); s != "" {
				m[f.name] = validUTF8(s)
			}
		case kindBool:
			if b := *f.flag(t); b || !f.omitEmpty {
				m[f.name] = b
			}
		default:
			if v := f.nested.toAny(t, f.dropsEmpty); v != nil {
				m[f.name] = v
			}
		}
	}
	return m
}

// appendJSON writes t as an object.
func (c *objectCodec[T]) appendJSON(dst []byte, t *T) []byte {
	dst = append(dst, '{')
	dst = c.appendMembers(dst, t, 0, len(c.sorted))
	return append(dst, '}')
}

// appendMembers writes the fields sorted[from:to] that are not left out, each with
// the comma it needs (see appendKey).
func (c *objectCodec[T]) appendMembers(dst []byte, t *T, from, to int) []byte {
	for i := from; i < to; i++ {
		f := &c.sorted[i]
		switch f.kind {
		case kindString:
			if s := *f.str(t); s != "" {
				dst = appendStr(dst, f.name, s)
			}
		case kindBool:
			if b := *f.flag(t); b || !f.omitEmpty {
				dst = strconv.AppendBool(appendKey(dst, f.name), b)
			}
		default:
			dst = f.nested.appendMember(dst, f.name, t, f.dropsEmpty)
		}
	}
	return dst
}

// decodeNew decodes m into a new T, as json.Unmarshal would decode json.Marshal(m).
func (c *objectCodec[T]) decodeNew(m map[string]any) (*T, *decodeError) {
	t := new(T)
	if c.decode(t, m, false) == nil {
		return t, nil
	}
	t = new(T)
	if err := c.decode(t, m, true); err != nil {
		return nil, err
	}
	return t, nil
}

// errOrdered stops a decoding in map order that needs the sorted one.
var errOrdered = &decodeError{field: "(order)"}

// decode fills t from m; keys that are no field are ignored. encoding/json takes the
// keys of json.Marshal(m) in sorted order: when two keys set one field (spelt in two
// cases) the last wins, objects and lists decoding into what the first left, and
// the first wrong type is the one reported. That order matters only then, so decode
// takes the keys in map order unless sorted is set, and gives up with errOrdered on
// a field set twice or any error, for decodeNew to start again sorted.
func (c *objectCodec[T]) decode(t *T, m map[string]any, sorted bool) *decodeError {
	if !sorted {
		var seen uint64
		for k, v := range m {
			i := c.fieldIndex(k)
			if i < 0 {
				continue
			}
			if seen&(1<<i) != 0 {
				return errOrdered
			}
			seen |= 1 << i
			if c.fields[i].decode(t, v, false) != nil {
				return errOrdered
			}
		}
		return nil
	}
	var buf [32]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := c.field(k)
		if f == nil {
			continue
		}
		if err := f.decode(t, m[k], true); err != nil {
			err.within(f.name)
			return err
		}
	}
	return nil
}

// decode sets the field from v: null leaves a string or boolean unchanged and
// unsets a list or an object.
func (f *fieldCodec[T]) decode(t *T, v any, sorted bool) *decodeError {
	v, err := jsonValue(v)
	if err != nil {
		return err
	}
	switch f.kind {
	case kindString:
		switch x := v.(type) {
		case nil:
		case string:
			*f.str(t) = validUTF8(x)
		default:
			return wrongType("string", x)
		}
	case kindBool:
		switch x := v.(type) {
		case nil:
		case bool:
			*f.flag(t) = x
		default:
			return wrongType("bool", x)
		}
	default:
		return f.nested.decode(t, v, sorted)
	}
	return nil
}

type sliceField[T, E any] struct {
	get func(*T) *[]E
	c   *objectCodec[E]
}

func (l sliceField[T, E]) empty(t *T, _ bool) bool { return len(*l.get(t)) == 0 }

func (l sliceField[T, E]) toAny(t *T, _ bool) any {
	s := *l.get(t)
	if len(s) == 0 {
		return nil
	}
	a := make([]any, len(s))
	for i := range s {
		a[i] = l.c.toMap(&s[i], 0)
	}
	return a
}

func (l sliceField[T, E]) appendMember(dst []byte, key string, t *T, _ bool) []byte {
	s := *l.get(t)
	if len(s) == 0 {
		return dst
	}
	dst = append(appendKey(dst, key), '[')
	for i := range s {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = l.c.appendJSON(dst, &s[i])
	}
	return append(dst, ']')
}

// decode decodes an array as encoding/json decodes one into a slice: into the
// elements the slice holds (within its capacity), a null element leaving one as it
// is, the slice cut to the array's length, and an empty array giving an empty,
// non-nil slice.
func (l sliceField[T, E]) decode(t *T, v any, sorted bool) *decodeError {
	p := l.get(t)
	switch a := v.(type) {
	case nil:
		*p = nil
		return nil
	case []any:
		if len(a) == 0 {
			*p = []E{}
			return nil
		}
		s := *p
		if n := len(a) - len(s); n > 0 {
			s = slices.Grow(s, n)
		}
		s = s[:len(a)]
		*p = s
		for i, e := range a {
			e, err := jsonValue(e)
			if err != nil {
				return err
			}
			switch m := e.(type) {
			case nil:
			case map[string]any:
				if err := l.c.decode(&s[i], m, sorted); err != nil {
					return err
				}
			default:
				return wrongType(l.c.typeName, m)
			}
		}
		return nil
	}
	return wrongType("[]"+l.c.typeName, v)
}

type pointerField[T, E any] struct {
	get func(*T) **E
	c   *objectCodec[E]
}

func (o pointerField[T, E]) empty(t *T, dropEmpty bool) bool {
	e := *o.get(t)
	return e == nil || dropEmpty && o.c.isEmpty(e)
}

func (o pointerField[T, E]) toAny(t *T, dropEmpty bool) any {
	e := *o.get(t)
	if e == nil {
		return nil
	}
	m := o.c.toMap(e, 0)
	if dropEmpty && len(m) == 0 {
		return nil
	}
	return m
}

func (o pointerField[T, E]) appendMember(dst []byte, key string, t *T, dropEmpty bool) []byte {
	e := *o.get(t)
	if e == nil {
		return dst
	}
	n := len(dst)
	dst = o.c.appendJSON(appendKey(dst, key), e)
	if dropEmpty && dst[len(dst)-2] == '{' { // written as {}
		return dst[:n]
	}
	return dst
}

// decode decodes an object into the one the field points to, or a new one.
func (o pointerField[T, E]) decode(t *T, v any, sorted bool) *decodeError {
	p := o.get(t)
	switch m := v.(type) {
	case nil:
		*p = nil
		return nil
	case map[string]any:
		if *p == nil {
			*p = new(E)
		}
		return o.c.decode(*p, m, sorted)
	}
	return wrongType(o.c.typeName, v)
}

// decodeError is a value that encoding/json would not decode into a field: of a
// wrong JSON type, or not encodable at all.
type decodeError struct {
	field       string // dotted path of the field, as encoding/json gives it
	want, got   string // Go type of the field, JSON type of the value
	unencodable bool
}

func wrongType(want string, v any) *decodeError {
	got := "number"
	switch v.(type) {
	case string:
		got = "string"
	case bool:
		got = "bool"
	case map[string]any:
		got = "object"
	case []any:
		got = "array"
	}
	return &decodeError{want: want, got: got}
}

// within prefixes the error's path with the name of the field holding it.
func (e *decodeError) within(name string) {
	if e.field == "" {
		e.field = name
	} else {
		e.field = name + "." + e.field
	}
}

// scimError is the 400 that fromMap gives for the same value.
func (e *decodeError) scimError() *Error {
	if e.unencodable {
		return errUnencodable()
	}
	return BadRequest(ErrInvalidValue, "%s", wrongTypeDetail(e.field, e.want, e.got))
}

// jsonValue returns v as decoded JSON: nil, string, bool, float64, []any or
// map[string]any, the values of a Resource. Any other Go value someone put into a
// Resource is brought there through JSON, so that it decodes as it did when whole
// resources went through JSON.
func jsonValue(v any) (any, *decodeError) {
	switch x := v.(type) {
	case nil, string, bool, []any, map[string]any:
		return v, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, &decodeError{unencodable: true}
		}
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &decodeError{unencodable: true}
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out, nil
}

// validUTF8 replaces each byte of s that is not part of valid UTF-8 with U+FFFD, as a
// JSON round trip does (json.Marshal writes \ufffd for each).
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(b)
}
