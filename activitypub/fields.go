package activitypub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// Marshal renders v as JSON the way Aistagram sends it. Unlike json.Marshal it
// leaves <, > and & alone: content and summary are HTML, and escaping them as
// \u003c is valid but bloats every body and makes golden files unreadable.
// Whatever bytes it returns are the bytes to sign (Digest) and send.
func Marshal(v any) ([]byte, error) {
	// The document types render themselves, compactly and without HTML
	// escaping already; the encoder would only validate and copy every
	// byte once more (on an outbox page, a quarter of the time).
	if d := asDocument(v); d != nil {
		b, _, err := d.render()
		return b, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// firstByte returns the first non-space byte of a JSON value, or 0.
func firstByte(data []byte) byte {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// fieldSet lists the JSON names a document struct declares, so that decoding
// can tell modelled properties from extra ones.
type fieldSet struct {
	exact  map[string]bool
	folded map[string]bool
	// enc renders the struct (encodeFields).
	enc *structEncoder
}

// fieldsOf plans the rendering of struct type t and records the names of
// its properties, as its json tags give them (newStructEncoder reads them).
func fieldsOf(t reflect.Type) fieldSet {
	fs := fieldSet{exact: map[string]bool{}, folded: map[string]bool{}, enc: newStructEncoder(t)}
	for _, f := range fs.enc.fields {
		fs.exact[f.name] = true
		fs.folded[foldKey(f.name)] = true
	}
	return fs
}

// foldKey folds a key the way encoding/json matches object keys to struct
// fields (case-insensitively, with Unicode simple folding).
func foldKey(k string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, k)
}

// decodeFields decodes the JSON object data into v (a pointer to a struct
// without custom methods) and returns the properties v does not declare.
//
// encoding/json matches keys case-insensitively, so {"actor": A, "Actor": B}
// would silently become B while Mastodon (and a signature check reading the
// raw JSON) sees A. Such a document is refused rather than read differently
// from everyone else.
func decodeFields(data []byte, v any, fs fieldSet) (map[string]json.RawMessage, error) {
	if firstByte(data) != '{' {
		return nil, fmt.Errorf("%w: %w: expected a JSON object", ErrInvalid, ErrSyntax)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	var extra map[string]json.RawMessage
	for k, raw := range all {
		if fs.exact[k] {
			continue
		}
		if fs.folded[foldKey(k)] {
			return nil, fmt.Errorf("%w: property %q differs from a known property only by case", ErrInvalid, k)
		}
		if extra == nil {
			extra = make(map[string]json.RawMessage)
		}
		extra[k] = raw
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, err
	}
	return extra, nil
}

// encodeBuffers are the scratch buffers of encodeFields: a document is
// rendered into one and copied out at its final size.
var encodeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// maxPooledBuffer keeps a rare huge document's buffer out of the pool.
const maxPooledBuffer = 256 << 10

// encodeFields renders *v (a struct without custom methods, of the type fs
// was read from) and appends the extra properties in sorted key order after
// the declared ones. An extra key that names a declared property is
// dropped: the typed field wins. It also returns the rendering's depth.
func encodeFields[T any](v *T, extra map[string]json.RawMessage, fs fieldSet) ([]byte, int, error) {
	scratch := encodeBuffers.Get().(*[]byte)
	rendered, deepest, err := fs.enc.encode((*scratch)[:0], reflect.ValueOf(v).Elem())
	b := bytes.Clone(rendered) // before the scratch buffer goes back
	if cap(rendered) <= maxPooledBuffer {
		*scratch = rendered[:0]
		encodeBuffers.Put(scratch)
	}
	if err != nil {
		return nil, 0, err
	}
	if len(extra) == 0 {
		return b, deepest, nil
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if !fs.folded[foldKey(k)] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return b, deepest, nil
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1]) // drop the closing brace
	for _, k := range keys {
		if buf.Bytes()[buf.Len()-1] != '{' {
			buf.WriteByte(',')
		}
		key, err := Marshal(k)
		if err != nil {
			return nil, 0, err
		}
		buf.Write(key)
		buf.WriteByte(':')
		if err := json.Compact(&buf, extra[k]); err != nil {
			return nil, 0, fmt.Errorf("activitypub: extra property %q: %w", k, err)
		}
		deepest = max(deepest, 1+depth(extra[k]))
	}
	buf.WriteByte('}')
	return buf.Bytes(), deepest, nil
}

// compactCopy returns a compact copy of data, a JSON value encoding/json
// has already checked. Values kept from parsing are compacted once here, so
// that rendering can copy them as they are (see structEncoder).
func compactCopy(data []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(data))
	if err := json.Compact(&buf, data); err != nil {
		return bytes.Clone(data)
	}
	return buf.Bytes()
}
