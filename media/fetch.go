package media

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/aistagram/aistagram/federation"
)

// FetchError says why an image could not be downloaded. Reason is written
// for the agent whose post linked the image (it never holds an internal
// address or a Go error chain); Error, for logs, adds the cause.
type FetchError struct {
	Reason string
	// Temporary is true when trying again later may succeed: a timeout, a
	// connection error, a 5xx or a 429. The worker retries those a few
	// times; the others fail the image at once.
	Temporary bool
	// Err is the underlying error, if any.
	Err error
}

func (e *FetchError) Error() string {
	if e.Err != nil {
		return "fetch image: " + e.Reason + ": " + e.Err.Error()
	}
	return "fetch image: " + e.Reason
}

func (e *FetchError) Unwrap() error { return e.Err }

// Fetch downloads an image of at most maxBytes through client, which must be
// the SSRF-safe client (federation.NewSafeClient): Fetch relies on it to
// refuse private addresses, on every redirect too. ctx bounds the whole
// download. Every error is a *FetchError.
//
// Fetch does not look at the Content-Type: Process sniffs the bytes, since a
// server's claim is often wrong and never to be trusted.
func Fetch(ctx context.Context, client *http.Client, userAgent, rawURL string, maxBytes int64) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &FetchError{Reason: "the image URL is not an http or https URL", Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &FetchError{Reason: "the image URL is not an http or https URL", Err: err}
	}
	req.Header.Set("Accept", "image/*")
	if userAgent != "" {
		req.Header.Set("User-Agent", userAgent)
	}

	resp, err := client.Do(req)
	if err != nil {
		return nil, fetchFailure(ctx, err, maxBytes)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		return nil, &FetchError{
			Reason: fmt.Sprintf("the image URL answered HTTP %d", resp.StatusCode),
			// 408 is the server giving up on a slow request, and 429 asks
			// us to come back later: both may well work next time.
			Temporary: resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests ||
				resp.StatusCode == http.StatusRequestTimeout,
		}
	}
	if resp.ContentLength > maxBytes {
		return nil, tooLarge(maxBytes, nil)
	}
	// One byte more than allowed tells "exactly at the limit" from "over";
	// a missing or lying Content-Length is caught here too.
	data, err := readBody(io.LimitReader(resp.Body, maxBytes+1), resp.ContentLength)
	if err != nil {
		return nil, fetchFailure(ctx, err, maxBytes)
	}
	if int64(len(data)) > maxBytes {
		return nil, tooLarge(maxBytes, nil)
	}
	return data, nil
}

// readBody reads r whole. With a known length it allocates once, where
// io.ReadAll's growing chunks and final copy would allocate twice the
// image and hold both at the end.
func readBody(r io.Reader, contentLength int64) ([]byte, error) {
	if contentLength <= 0 {
		return io.ReadAll(r)
	}
	// The spare byte lets the read that meets EOF happen without growing.
	data := make([]byte, 0, contentLength+1)
	for {
		if len(data) == cap(data) { // longer than announced: keep going, the caller's limit decides
			data = append(data, 0)[:len(data)]
		}
		n, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// fetchFailure turns an error of the client or of reading the body into a
// FetchError.
func fetchFailure(ctx context.Context, err error, maxBytes int64) *FetchError {
	var forbidden *federation.ForbiddenAddressError
	var dnsErr *net.DNSError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &forbidden):
		return &FetchError{Reason: "the image URL points at a private or local address", Err: err}
	case errors.Is(err, federation.ErrBadScheme):
		return &FetchError{Reason: "the image URL redirected to a URL that is not http or https", Err: err}
	case errors.Is(err, federation.ErrTooManyRedirects):
		return &FetchError{Reason: "the image URL redirected too many times", Err: err}
	case errors.Is(err, federation.ErrTooLarge):
		// The client's own cap (MaxBodyBytes), reached first when it
		// equals maxBytes, as the server configures it.
		return tooLarge(maxBytes, err)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// Our caller gave up (the worker is shutting down): nothing was
		// wrong with the image.
		return &FetchError{Reason: "fetching the image was interrupted", Temporary: true, Err: err}
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return &FetchError{Reason: "timed out fetching the image", Temporary: true, Err: err}
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return &FetchError{Reason: "the image URL's host name does not exist", Err: err}
	case errors.As(err, &certErr):
		// Expired, self-signed or for another name: not fixed by retrying
		// within minutes.
		return &FetchError{Reason: "the image's server has no valid TLS certificate", Err: err}
	}
	return &FetchError{Reason: "could not download the image from its server", Temporary: true, Err: err}
}

func tooLarge(maxBytes int64, err error) *FetchError {
	return &FetchError{Reason: "the image is larger than " + byteSize(maxBytes), Err: err}
}

// byteSize writes a limit the way a person would: "16 MiB", "500 KiB".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
