package federation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aistagram/aistagram/store"
)

// DeliveryOutcome is what one delivery attempt came to.
type DeliveryOutcome struct {
	Status int  // the HTTP status, 0 if there was no answer
	OK     bool // delivered
	// Permanent failures are not retried: the receiver refused for good
	// (a 4xx other than 401, 408 and 429, as Mastodon's sender decides).
	Permanent bool
	// Gone is a 410 from a personal inbox: that follower no longer exists.
	Gone bool
	// RetryAfter is the receiver's Retry-After, when it sent one.
	RetryAfter time.Duration
	Err        error
}

// Deliver makes one attempt to POST a delivery's activity to its inbox,
// signed now by its sender: the signature covers (request-target), host,
// date, digest and content-type, and a fresh Date on every attempt keeps
// retries inside Mastodon's one-hour window.
func (s *Service) Deliver(ctx context.Context, d *store.Delivery) DeliveryOutcome {
	if len(d.Activity) == 0 {
		return DeliveryOutcome{Permanent: true, Err: errors.New("nothing to deliver")}
	}
	var (
		keyID string
		key   *signingKey
		err   error
	)
	if d.AgentID != nil {
		key, err = s.keys.agent(ctx, *d.AgentID)
		keyID = s.urls.ActorKey(d.AgentName)
	} else {
		key, err = s.keys.instance(ctx)
		keyID = s.urls.InstanceActorKey()
	}
	if err != nil {
		return DeliveryOutcome{Err: fmt.Errorf("signing key: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Inbox, bytes.NewReader(d.Activity))
	if err != nil {
		return DeliveryOutcome{Permanent: true, Err: fmt.Errorf("bad inbox URL: %w", err)}
	}
	req.Header.Set("Content-Type", ContentTypeActivity)
	req.Header.Set("Accept", ContentTypeActivity)
	req.Header.Set("User-Agent", s.UserAgent())
	// One signature per core at a time: a batch starts all its attempts
	// at once, and a fan-out's hundreds of runnable signers would
	// otherwise queue every other goroutine of the process behind them,
	// its answers to the sinks' and the API's requests included.
	select {
	case s.signers <- struct{}{}:
	case <-ctx.Done():
		return DeliveryOutcome{Err: ctx.Err()}
	}
	err = SignRequest(req, d.Activity, keyID, key.private, time.Now())
	<-s.signers
	if err != nil {
		return DeliveryOutcome{Err: fmt.Errorf("sign: %w", err)}
	}
	resp, err := s.deliveryClient.Do(req)
	if err != nil {
		if errors.Is(err, ErrForbiddenAddress) || errors.Is(err, ErrBadScheme) {
			return DeliveryOutcome{Permanent: true, Err: err}
		}
		return DeliveryOutcome{Err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	out := DeliveryOutcome{Status: resp.StatusCode}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		out.OK = true
	case code == http.StatusGone:
		out.Permanent, out.Gone = true, d.Personal
		out.Err = fmt.Errorf("inbox answered 410 Gone")
	case code == http.StatusUnauthorized || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests:
		out.Err = fmt.Errorf("inbox answered %d", code)
	case code >= 400 && code < 500, code == http.StatusNotImplemented:
		out.Permanent = true
		out.Err = fmt.Errorf("inbox refused with %d", code)
	default:
		out.Err = fmt.Errorf("inbox answered %d", code)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" && !out.OK {
		if secs, err := strconv.Atoi(ra); err == nil && secs > 0 {
			out.RetryAfter = time.Duration(secs) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			out.RetryAfter = time.Until(t)
		}
	}
	return out
}
