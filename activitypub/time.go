package activitypub

import (
	"encoding/json"
	"time"
)

// Time is a published, updated or deleted timestamp.
//
// Output is RFC 3339 in UTC with whole seconds ("2026-11-28T12:00:00Z"), the
// form Mastodon writes and Pixelfed parses. Input is tolerant: fractional
// seconds (Misskey, Lemmy), numeric offsets, a missing zone (read as UTC) and
// a bare date all parse. A value that does not parse reads as the zero Time,
// as Mastodon treats an unparsable published as absent rather than refusing
// the post. The zero Time is omitted on output (fields are tagged omitzero).
type Time struct {
	time.Time
}

// NewTime wraps t.
func NewTime(t time.Time) Time { return Time{Time: t} }

// timeLayouts are tried in order on input.
var timeLayouts = []string{
	time.RFC3339Nano, // also accepts no fraction
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02",
}

// MarshalJSON writes RFC 3339 in UTC, truncated to the second.
func (t Time) MarshalJSON() ([]byte, error) { return t.appendJSON(nil) }

// appendJSON needs no escaping: RFC 3339 is digits, '-', ':', 'T' and 'Z'.
func (t Time) appendJSON(dst []byte) ([]byte, error) {
	if t.IsZero() {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '"')
	dst = t.UTC().Truncate(time.Second).AppendFormat(dst, time.RFC3339)
	return append(dst, '"'), nil
}

// UnmarshalJSON reads any of the layouts above; anything else is the zero Time.
func (t *Time) UnmarshalJSON(data []byte) error {
	*t = Time{}
	var s string
	if json.Unmarshal(data, &s) != nil || s == "" {
		return nil
	}
	for _, layout := range timeLayouts {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v
			return nil
		}
	}
	return nil
}
