package activitypub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Limits applied by the Parse functions before decoding.
const (
	// MaxDepth is the deepest nesting of objects and arrays accepted. Real
	// documents stay under 10 (a Create{Note{replies{first{items}}}} is 5);
	// the limit bounds the recursion of tolerant decoding. Our own output
	// stays within 8, Pixelfed's json_decode depth.
	MaxDepth = 32
	// MaxDocumentSize matches the 1 MiB Mastodon accepts on its inbox and when
	// fetching; the HTTP layer should cap bodies at this size before reading
	// them into memory, this is a second line.
	MaxDocumentSize = 1 << 20
)

// ErrInvalid is wrapped by every error that means "this document is
// malformed": the inbox answers 400 (Mastodon will not retry it) and
// federation refuses the fetched document. The more specific errors below
// are wrapped alongside it, so errors.Is works for both.
var ErrInvalid = errors.New("activitypub: invalid document")

// Specific reasons a document is refused; each is wrapped together with
// [ErrInvalid].
var (
	ErrSyntax        = errors.New("malformed JSON")
	ErrTooDeep       = errors.New("nested too deeply")
	ErrTooLarge      = errors.New("document too large")
	ErrNoContext     = errors.New("@context lacks " + ActivityStreamsContext)
	ErrMissingType   = errors.New("missing type")
	ErrWrongType     = errors.New("unexpected type")
	ErrMissingID     = errors.New("missing id")
	ErrMissingActor  = errors.New("missing actor")
	ErrMissingObject = errors.New("missing object")
	ErrMissingField  = errors.New("missing required property")
)

// invalid wraps a decoding error with ErrInvalid (and ErrSyntax when it is
// plain JSON trouble), leaving already-classified errors alone.
func invalid(err error) error {
	if err == nil || errors.Is(err, ErrInvalid) {
		return err
	}
	return fmt.Errorf("%w: %w: %w", ErrInvalid, ErrSyntax, err)
}

// invalidf returns an error wrapping ErrInvalid and reason, with detail.
func invalidf(reason error, format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrInvalid, reason, fmt.Sprintf(format, args...))
}

// checkDocument applies the size and depth limits and requires a JSON object.
func checkDocument(data []byte) error {
	if len(data) > MaxDocumentSize {
		return fmt.Errorf("%w: %w: %d bytes", ErrInvalid, ErrTooLarge, len(data))
	}
	if firstByte(data) != '{' {
		return fmt.Errorf("%w: %w: expected a JSON object", ErrInvalid, ErrSyntax)
	}
	return checkDepth(data)
}

// checkDepth scans data, without decoding it, for nesting beyond MaxDepth.
// Malformed JSON passes here and fails later in the decoder.
func checkDepth(data []byte) error {
	if depth(data) > MaxDepth {
		return errTooDeep()
	}
	return nil
}

func errTooDeep() error {
	return fmt.Errorf("%w: %w: more than %d levels", ErrInvalid, ErrTooDeep, MaxDepth)
}

// depth returns the maximum nesting of objects and arrays in data, counting
// the outermost one as 1 (as PHP's json_decode depth does). It stops
// counting once past MaxDepth.
func depth(data []byte) int {
	level, deepest := 0, 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			// Skip the string in one search per quote inside it: strings
			// (HTML content, URLs) are most of a document's bytes.
			for {
				j := bytes.IndexByte(data[i+1:], '"')
				if j < 0 {
					return deepest // unterminated: the decoder refuses it
				}
				i += 1 + j
				if !escapedAt(data, i) {
					break
				}
			}
		case '{', '[':
			level++
			if level > deepest {
				deepest = level
				if deepest > MaxDepth {
					return deepest
				}
			}
		case '}', ']':
			level--
		}
	}
	return deepest
}

// escapedAt reports whether the byte at i is escaped: preceded by an odd
// number of backslashes.
func escapedAt(data []byte, i int) bool {
	n := 0
	for k := i - 1; k >= 0 && data[k] == '\\'; k-- {
		n++
	}
	return n%2 == 1
}

// decode checks data and decodes it into v, classifying every failure.
func decode(data []byte, v any) error {
	if err := checkDocument(data); err != nil {
		return err
	}
	return invalid(json.Unmarshal(data, v))
}

// ParseActivity decodes an activity received in an inbox (or fetched) and
// validates it with [Activity.Validate]. It does not check @context; call
// [CheckContext] on the same bytes for that.
func ParseActivity(data []byte) (*Activity, error) {
	var a Activity
	if err := decode(data, &a); err != nil {
		return nil, err
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &a, nil
}

// ParseActor decodes a fetched actor document and validates it with
// [Actor.Validate].
func ParseActor(data []byte) (*Actor, error) {
	var a Actor
	if err := decode(data, &a); err != nil {
		return nil, err
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &a, nil
}

// ParseObject decodes a fetched object (a Note, usually) and validates it
// with [Object.Validate]. Any type is accepted; the caller decides which it
// can use.
func ParseObject(data []byte) (*Object, error) {
	var o Object
	if err := decode(data, &o); err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &o, nil
}

// ParseCollection decodes a fetched collection or collection page and
// validates it with [Collection.Validate].
func ParseCollection(data []byte) (*Collection, error) {
	var c Collection
	if err := decode(data, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ParseKey decodes a standalone key document, what a keyId URL returns when
// it is not the actor itself, and validates it with [PublicKey.Validate]. The
// caller must still fetch the owner and check that it lists this key.
func ParseKey(data []byte) (*PublicKey, error) {
	var k PublicKey
	if err := decode(data, &k); err != nil {
		return nil, err
	}
	if err := k.Validate(); err != nil {
		return nil, err
	}
	return &k, nil
}

// Peek returns the id and type of a document without decoding the rest, for
// callers that must choose a Parse function (is what a keyId URL returned an
// actor or a Key?). The limits of the Parse functions apply.
func Peek(data []byte) (id string, typ Type, err error) {
	if err := checkDocument(data); err != nil {
		return "", "", err
	}
	var r Ref
	if err := r.UnmarshalJSON(data); err != nil {
		return "", "", invalid(err)
	}
	return r.ID(), r.Type(), nil
}
