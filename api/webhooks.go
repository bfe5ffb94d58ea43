package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"fiveid"
)

// PosterConfig configures NewPoster.
type PosterConfig struct {
	// Policy is the service's WebhookPolicy (fiveid.Config.Webhooks):
	// every address a delivery connects to must pass its AddrAllowed.
	Policy fiveid.WebhookPolicy
	// RootCAs verifies receivers' certificates; nil means the system's.
	RootCAs *x509.CertPool
}

// NewPoster delivers webhooks over HTTP/1.1: a 2xx answer is an
// acknowledgement, anything else (or no answer) a *fiveid.DeliveryFailure
// to retry, with a coarse reason and never the receiver's text.
//
// The policy is checked on the address actually dialed (net.Dialer's
// Control runs after name resolution, for every address tried), so a name
// that resolves, or is re-bound, to an inside address is refused: checking
// the name when the webhook was created cannot see that. For the same
// reason no proxy is used (HTTPS_PROXY is ignored: the proxy would dial
// the receiver unchecked) and redirects are not followed (a 3xx is a
// failure): a receiver cannot send a delivery on to an inside address.
func NewPoster(cfg PosterConfig) fiveid.Poster {
	dialer := &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			return checkDial(cfg.Policy, network, address)
		},
	}
	tlsConf := &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	transport := &http.Transport{
		Proxy:       nil,
		DialContext: dialer.DialContext,
		// The TLS handshake is ours so that its failures are told apart
		// by type (tls's own errors are mostly untyped).
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			conf := tlsConf.Clone()
			conf.ServerName, _, _ = net.SplitHostPort(addr)
			tc := tls.Client(conn, conf)
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, &tlsError{err}
			}
			return tc, nil
		},
		ResponseHeaderTimeout:  10 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
	}
	client := &http.Client{
		Transport:     transport,
		Timeout:       30 * time.Second, // the service gives each delivery less
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return func(ctx context.Context, target string, body []byte, headers map[string]string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return &fiveid.DeliveryFailure{Reason: fiveid.FailureOther, Err: err}
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return classifyDeliveryError(err)
		}
		// The answer is read (so the connection can be reused) and dropped:
		// it is never stored or logged.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		code := resp.StatusCode
		reason := fiveid.FailureOther
		switch {
		case code >= 200 && code <= 299:
			return nil
		case code >= 300 && code <= 399:
			reason = fiveid.FailureRedirect
		case code >= 400 && code <= 499:
			reason = fiveid.FailureHTTP4xx
		case code >= 500 && code <= 599:
			reason = fiveid.FailureHTTP5xx
		}
		return &fiveid.DeliveryFailure{Reason: reason, Status: code, Err: fmt.Errorf("receiver answered %d", code)}
	}
}

// blockedError is a connection the WebhookPolicy refused. Its text names
// the range, not the address; it reaches the operator's log only.
type blockedError struct{ insideRange string }

func (e *blockedError) Error() string {
	return "webhook policy refuses to connect to this address (" + e.insideRange + ")"
}

// checkDial is the dialer's Control: it sees the resolved address about to
// be connected to ("ip:port").
func checkDial(p fiveid.WebhookPolicy, network, address string) error {
	if network != "tcp4" && network != "tcp6" {
		return &blockedError{"network " + network}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &blockedError{"unparsable"}
	}
	if ok, name := p.AddrAllowed(ap.Addr()); !ok {
		return &blockedError{name}
	}
	return nil
}

// tlsError is a failed TLS handshake with a receiver.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "tls handshake: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// classifyDeliveryError turns a failed request into a coarse reason. The
// cause kept for the log drops *url.Error's URL (its query may hold a
// receiver's token).
func classifyDeliveryError(err error) *fiveid.DeliveryFailure {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	f := &fiveid.DeliveryFailure{Reason: fiveid.FailureOther, Err: cause}
	var (
		blocked *blockedError
		te      *tlsError
		dnsErr  *net.DNSError
		ne      net.Error
		opErr   *net.OpError
	)
	switch {
	case errors.As(err, &blocked):
		f.Reason = fiveid.FailureBlockedAddress
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		f.Reason = fiveid.FailureTimeout
	case errors.As(err, &te):
		f.Reason = fiveid.FailureTLS
	case errors.As(err, &dnsErr):
		f.Reason = fiveid.FailureDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		f.Reason = fiveid.FailureConnectRefused
	case errors.As(err, &opErr) && opErr.Op == "dial":
		f.Reason = fiveid.FailureConnect
	}
	return f
}

// WebhookWire is a webhook with its delivery state; Secret only at creation.
type WebhookWire struct {
	ID          string     `json:"id"`
	URL         string     `json:"url"`
	Secret      string     `json:"secret,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	Cursor      string     `json:"cursor"`
	Delivered   int64      `json:"delivered"`
	Attempts    int64      `json:"failed_attempts"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	// LastError is why the last delivery failed: a coarse reason
	// (fiveid.DeliveryFailureReasons), never the receiver's text.
	LastError string `json:"last_error,omitempty"`
	// LastStatus is the receiver's HTTP status of that failure, if it
	// answered.
	LastStatus   int        `json:"last_status,omitempty"`
	FailingSince *time.Time `json:"failing_since,omitempty"`
}

func webhookWire(w fiveid.Webhook, secret string) WebhookWire {
	out := WebhookWire{ID: w.ID, URL: w.URL, Secret: secret, CreatedAt: w.CreatedAt, Cursor: w.Cursor, Delivered: w.Delivered,
		Attempts: w.Attempts}
	out.LastError, out.LastStatus = w.LastFailure()
	if !w.NextAttempt.IsZero() {
		t := w.NextAttempt
		out.NextAttempt = &t
	}
	if !w.FailingSince.IsZero() {
		t := w.FailingSince
		out.FailingSince = &t
	}
	return out
}

func (h *handlers) createWebhook(c echo.Context) error {
	var req struct {
		URL string `json:"url"`
	}
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	w, secret, err := h.svc.CreateWebhook(c.Request().Context(), principal(c), req.URL)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, webhookWire(w, secret))
}

func (h *handlers) listWebhooks(c echo.Context) error {
	ws, err := h.svc.ListWebhooks(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	out := []WebhookWire{}
	for _, w := range ws {
		out = append(out, webhookWire(w, ""))
	}
	return c.JSON(http.StatusOK, map[string]any{"webhooks": out})
}

func (h *handlers) deleteWebhook(c echo.Context) error {
	if err := h.svc.DeleteWebhook(c.Request().Context(), principal(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
