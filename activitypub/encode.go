package activitypub

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// structEncoder renders a document struct (objectFields, activityFields...)
// exactly as encoding/json does with HTML escaping off: the same keys in
// the same order, the same omitempty and omitzero rules, the same string
// escapes. What it does not do is validate and compact once more what this
// package's own marshalers (Ref, Refs, Time, Context, URLs, PublicKeys)
// return: encoding/json does that for every Marshaler at every level, so a
// Note in a Create in an outbox page was scanned three times, and that was
// a fifth of rendering a page. Their output is compact valid JSON by
// construction: they render through this package, and what they keep from
// parsing is compacted when parsed. Any other field type goes through
// encoding/json, so the output stays byte for byte what it would render.
type structEncoder struct {
	fields []fieldEncoder
}

// fieldEncoder renders one field: its key, when it is left out, and how its
// value is written.
type fieldEncoder struct {
	index int
	name  string // the property's name
	key   string // `"name":`
	omit  func(reflect.Value) bool
	write func(dst []byte, v reflect.Value) ([]byte, error)
	// depth is the nesting of the value written (nil: a scalar's, 0).
	depth func(v reflect.Value, written []byte) int
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	isZeroerType      = reflect.TypeFor[interface{ IsZero() bool }]()
)

// jsonAppender is what this package's own value types (Ref, Refs, Time,
// Context, URLs, PublicKeys) implement besides MarshalJSON: they append to
// the document being rendered instead of returning bytes of their own to
// be copied into it. An outbox page holds some 300 such values, and their
// slices were a third of what it allocated.
type jsonAppender interface {
	appendJSON(dst []byte) ([]byte, error)
}

var appenderType = reflect.TypeFor[jsonAppender]()

// newStructEncoder plans the rendering of struct type t. Its fields must be
// plain (no embedded structs, no ",string" option), which the document
// types' are; a type that is not panics at start-up.
func newStructEncoder(t reflect.Type) *structEncoder {
	e := &structEncoder{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		if f.Anonymous || hasOption(opts, "string") {
			panic("activitypub: " + t.String() + "." + f.Name + ": embedded fields and the string option are not supported")
		}
		if name == "" {
			name = f.Name
		}
		key := string(appendString(nil, name)) + ":"
		fe := fieldEncoder{index: f.Index[0], name: name, key: key, write: valueWriter(f.Type), depth: depthOf(f.Type)}
		fe.omit = omitter(f.Type, hasOption(opts, "omitempty"), hasOption(opts, "omitzero"))
		e.fields = append(e.fields, fe)
	}
	return e
}

func hasOption(opts, want string) bool {
	for opt := range strings.SplitSeq(opts, ",") {
		if opt == want {
			return true
		}
	}
	return false
}

// encode appends v's JSON object to dst, and returns its depth (the
// object's own level included) as depth would scan it: Embed checks it
// against MaxDepth, and scanning every embedded document once more at
// every level of an outbox page was a tenth of rendering it.
func (e *structEncoder) encode(dst []byte, v reflect.Value) ([]byte, int, error) {
	dst = append(dst, '{')
	first := true
	deepest := 0
	for i := range e.fields {
		f := &e.fields[i]
		fv := v.Field(f.index)
		if f.omit != nil && f.omit(fv) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, f.key...)
		start := len(dst)
		var err error
		if dst, err = f.write(dst, fv); err != nil {
			return nil, 0, err
		}
		if f.depth != nil {
			deepest = max(deepest, f.depth(fv, dst[start:]))
		}
	}
	return append(dst, '}'), 1 + deepest, nil
}

// depther is implemented by Ref and Refs, which know the depth of what
// they hold without scanning it.
type depther interface{ jsonDepth() int }

var deptherType = reflect.TypeFor[depther]()

// depthOf returns how a field of type t finds the depth of the value it
// wrote: nil for scalars (and Time, a string), which add none.
func depthOf(t reflect.Type) func(v reflect.Value, written []byte) int {
	if t.Kind() != reflect.Pointer && t.Implements(deptherType) {
		return func(v reflect.Value, _ []byte) int { return addressed(v).(depther).jsonDepth() }
	}
	if t == reflect.TypeFor[Time]() {
		return nil
	}
	k := t.Kind()
	if k == reflect.Pointer {
		k = t.Elem().Kind()
	}
	switch k {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		if !t.Implements(marshalerType) && !reflect.PointerTo(t).Implements(marshalerType) &&
			!t.Implements(textMarshalerType) && !reflect.PointerTo(t).Implements(textMarshalerType) {
			return nil
		}
	}
	return func(_ reflect.Value, written []byte) int { return depth(written) }
}

// omitter is encoding/json's rule for leaving a field out, or nil when the
// field is always written.
func omitter(t reflect.Type, omitEmpty, omitZero bool) func(reflect.Value) bool {
	var isZero func(reflect.Value) bool
	if omitZero {
		switch {
		case t.Kind() == reflect.Pointer && t.Implements(isZeroerType):
			isZero = func(v reflect.Value) bool {
				return v.IsNil() || v.Interface().(interface{ IsZero() bool }).IsZero()
			}
		case t.Kind() != reflect.Interface && t.Implements(isZeroerType):
			isZero = func(v reflect.Value) bool { return addressed(v).(interface{ IsZero() bool }).IsZero() }
		case t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(isZeroerType):
			panic("activitypub: omitzero on " + t.String() + " is not supported")
		default:
			isZero = reflect.Value.IsZero
		}
	}
	switch {
	case omitEmpty && isZero != nil:
		return func(v reflect.Value) bool { return isEmptyValue(v) || isZero(v) }
	case omitEmpty:
		return isEmptyValue
	}
	return isZero
}

// isEmptyValue is encoding/json's omitempty test.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

// addressed returns v as an interface holding a pointer to it when it can:
// boxing a Ref's value would copy (and allocate) it for every field.
func addressed(v reflect.Value) any {
	if v.CanAddr() {
		return v.Addr().Interface()
	}
	return v.Interface()
}

// valueWriter returns how a value of type t is written.
func valueWriter(t reflect.Type) func([]byte, reflect.Value) ([]byte, error) {
	switch {
	case t.Kind() != reflect.Pointer && t.Implements(appenderType): // a *Ref goes by encoding/json (nil is null)
		return func(dst []byte, v reflect.Value) ([]byte, error) {
			return addressed(v).(jsonAppender).appendJSON(dst)
		}
	case t.Implements(marshalerType) || t.Implements(textMarshalerType) ||
		reflect.PointerTo(t).Implements(marshalerType) || reflect.PointerTo(t).Implements(textMarshalerType):
		return writeWithEncodingJSON
	}
	switch t.Kind() {
	case reflect.String:
		return func(dst []byte, v reflect.Value) ([]byte, error) { return appendString(dst, v.String()), nil }
	case reflect.Bool:
		return func(dst []byte, v reflect.Value) ([]byte, error) { return strconv.AppendBool(dst, v.Bool()), nil }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(dst []byte, v reflect.Value) ([]byte, error) { return strconv.AppendInt(dst, v.Int(), 10), nil }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(dst []byte, v reflect.Value) ([]byte, error) { return strconv.AppendUint(dst, v.Uint(), 10), nil }
	case reflect.Pointer:
		elem := valueWriter(t.Elem())
		return func(dst []byte, v reflect.Value) ([]byte, error) {
			if v.IsNil() {
				return append(dst, "null"...), nil
			}
			return elem(dst, v.Elem())
		}
	}
	return writeWithEncodingJSON
}

// writeWithEncodingJSON renders what has no fast path (maps, slices of
// numbers, nested plain structs) with encoding/json, as Marshal does.
func writeWithEncodingJSON(dst []byte, v reflect.Value) ([]byte, error) {
	b, err := Marshal(v.Interface())
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string with encoding/json's escapes,
// HTML characters left alone (json.Encoder.SetEscapeHTML(false)): quote,
// backslash and control characters escaped, invalid UTF-8 replaced by
// U+FFFD, and U+2028 and U+2029 escaped for JavaScript's sake.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
