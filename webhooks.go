package fiveid

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Poster delivers one signed webhook body; a non-nil error (including a
// non-2xx answer) means "not delivered, retry", and should be a
// *DeliveryFailure (anything else is recorded as FailureOther). A Poster
// must connect only to addresses the service's WebhookPolicy.AddrAllowed
// accepts. The HTTP adapter is in api.
type Poster func(ctx context.Context, url string, body []byte, headers map[string]string) error

// WebhookEvent is a delivered change: identifiers only, never identity
// data; subscribers read details through the API.
type WebhookEvent struct {
	ID         string    `json:"id"`
	CustomerID string    `json:"customer_id"`
	Kind       string    `json:"kind"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	System     string    `json:"system,omitempty"`
	LocalID    string    `json:"local_id,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// SignWebhook is the X-Fiveid-Signature header value of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>". The
// timestamp is signed with the body, so a receiver that refuses old
// timestamps (README: five minutes) refuses a replayed delivery; the v1
// label leaves room for another algorithm beside it later.
func SignWebhook(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Why a webhook delivery failed: a closed set of coarse reasons, listed in
// openapi.yaml. The delivery state shows a reason and the receiver's HTTP
// status, never the receiver's answer or the network's error text: those
// would turn webhooks into a scanner of what fiveid can reach.
const (
	FailureURLNotAllowed  = "url_not_allowed" // the URL no longer passes the WebhookPolicy
	FailureBlockedAddress = "blocked_address" // the name resolved to an inside address
	FailureDNS            = "dns"             // the name did not resolve
	FailureConnectRefused = "connect_refused"
	FailureConnect        = "connect_failed" // unreachable, reset, ...
	FailureTimeout        = "timeout"
	FailureTLS            = "tls"      // handshake or certificate
	FailureRedirect       = "redirect" // a 3xx answer: redirects are not followed
	FailureHTTP4xx        = "http_4xx"
	FailureHTTP5xx        = "http_5xx"
	FailureOther          = "failed"
)

// DeliveryFailureReasons are the Failure* reasons, in the order openapi.yaml
// lists them.
var DeliveryFailureReasons = []string{FailureURLNotAllowed, FailureBlockedAddress, FailureDNS, FailureConnectRefused,
	FailureConnect, FailureTimeout, FailureTLS, FailureRedirect, FailureHTTP4xx, FailureHTTP5xx, FailureOther}

// DeliveryFailure is a Poster's error: a Failure* reason, the receiver's
// HTTP status when it answered, and the cause for the operator's log
// (never stored or served).
type DeliveryFailure struct {
	Reason string
	Status int
	Err    error
}

func (f *DeliveryFailure) Error() string {
	if f.Status != 0 {
		return fmt.Sprintf("webhook delivery: %s (%d)", f.Reason, f.Status)
	}
	return "webhook delivery: " + f.Reason
}

func (f *DeliveryFailure) Unwrap() error { return f.Err }

// stored is the delivery state's last_error: the reason, then the status
// when there is one ("http_5xx 503").
func (f *DeliveryFailure) stored() string {
	if f.Status != 0 {
		return f.Reason + " " + strconv.Itoa(f.Status)
	}
	return f.Reason
}

// LastFailure reads LastError: a Failure* reason and the receiver's HTTP
// status (0 when none), or "" when the last delivery succeeded. Anything
// else stored there (free error text written by an earlier version) reads
// as FailureOther: it is never served.
func (w Webhook) LastFailure() (reason string, status int) {
	if w.LastError == "" {
		return "", 0
	}
	r, st, _ := strings.Cut(w.LastError, " ")
	if !slices.Contains(DeliveryFailureReasons, r) {
		return FailureOther, 0
	}
	if n, err := strconv.Atoi(st); err == nil && n >= 100 && n <= 599 {
		status = n
	}
	return r, status
}

func (s *Service) webhookStore() (WebhookStore, error) {
	if s.webhooks == nil {
		return nil, fmt.Errorf("webhooks: no store configured: %w", ErrUnavailable)
	}
	return s.webhooks, nil
}

// CreateWebhook subscribes url to every customer change from now on
// (admin), when the WebhookPolicy allows the URL. The signing secret is
// returned once.
func (s *Service) CreateWebhook(ctx context.Context, p Principal, rawURL string) (Webhook, string, error) {
	if err := require(p, RoleAdmin); err != nil {
		return Webhook{}, "", err
	}
	u, err := s.webhookPolicy.CheckURL(rawURL)
	if err != nil {
		return Webhook{}, "", err
	}
	ws, err := s.webhookStore()
	if err != nil {
		return Webhook{}, "", err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	hexSecret := hex.EncodeToString(secret)
	// Start after the newest change: a new subscriber gets what happens next.
	cursor := newID("H")
	w := Webhook{ID: newID("wh_"), URL: u.String(), Secret: []byte(hexSecret), CreatedAt: s.changeTime(), Cursor: cursor}
	if err := ws.CreateWebhook(ctx, w); err != nil {
		return Webhook{}, "", fmt.Errorf("create webhook: %w", err)
	}
	return w, hexSecret, nil
}

// ListWebhooks shows webhooks with their delivery state, failures
// included (admin).
func (s *Service) ListWebhooks(ctx context.Context, p Principal) ([]Webhook, error) {
	if err := require(p, RoleAdmin); err != nil {
		return nil, err
	}
	ws, err := s.webhookStore()
	if err != nil {
		return nil, err
	}
	return ws.Webhooks(ctx)
}

// DeleteWebhook unsubscribes (admin).
func (s *Service) DeleteWebhook(ctx context.Context, p Principal, id string) error {
	if err := require(p, RoleAdmin); err != nil {
		return err
	}
	ws, err := s.webhookStore()
	if err != nil {
		return err
	}
	return ws.DeleteWebhook(ctx, id, s.changeTime())
}

// WebhookOptions tune delivery.
type WebhookOptions struct {
	// Lag is how old a change must be before it is delivered: a change
	// whose transaction commits late could otherwise sort before one
	// already delivered. Default 5s.
	Lag time.Duration
	// Backoff is the first retry delay, doubled per failure up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	Interval            time.Duration // how often to look for work; default 500ms
}

func (o *WebhookOptions) defaults() {
	if o.Lag == 0 {
		o.Lag = 5 * time.Second
	}
	if o.Backoff == 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 10 * time.Minute
	}
	if o.Interval == 0 {
		o.Interval = 500 * time.Millisecond
	}
}

// RunWebhooks delivers changes to every webhook until ctx ends: in order,
// HMAC-signed, at least once (the cursor advances only after a 2xx), with
// exponential backoff; the state survives restarts because it is stored.
func (s *Service) RunWebhooks(ctx context.Context, post Poster, opt WebhookOptions) error {
	opt.defaults()
	ws, err := s.webhookStore()
	if err != nil {
		return err
	}
	t := time.NewTicker(opt.Interval)
	defer t.Stop()
	for {
		if err := s.deliverWebhooks(ctx, ws, post, opt); err != nil && ctx.Err() == nil {
			s.log.LogAttrs(ctx, slogWarn, "webhook delivery", attr("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Service) deliverWebhooks(ctx context.Context, ws WebhookStore, post Poster, opt WebhookOptions) error {
	hooks, err := ws.Webhooks(ctx)
	if err != nil {
		return err
	}
	for _, w := range hooks {
		now := s.changeTime()
		if !w.NextAttempt.IsZero() && now.Before(w.NextAttempt) {
			continue
		}
		changes, err := ws.ChangesAfter(ctx, w.Cursor, 100)
		if err != nil {
			return err
		}
		for _, c := range changes {
			if now.Sub(c.At) < opt.Lag {
				break
			}
			body, _ := json.Marshal(WebhookEvent{ID: c.ID, CustomerID: c.CustomerID, Kind: string(c.Kind), At: c.At,
				Actor: c.Actor, System: c.System, LocalID: c.LocalID, Detail: c.Detail})
			err := s.postWebhook(ctx, post, w, c.ID, body)
			if err != nil && ctx.Err() != nil {
				return ctx.Err() // stopping: not the receiver's failure
			}
			if err != nil {
				w.Attempts++
				delay := opt.Backoff << min(w.Attempts-1, 20)
				if delay > opt.MaxBackoff || delay <= 0 {
					delay = opt.MaxBackoff
				}
				if w.FailingSince.IsZero() {
					w.FailingSince = now
				}
				f := deliveryFailure(err)
				// The cause is for the operator only: it may name an inside
				// address. The URL is left out (its query may hold a token).
				s.log.LogAttrs(ctx, slogWarn, "webhook delivery failed", attr("webhook_id", w.ID), attr("event_id", c.ID),
					attr("reason", f.Reason), slog.Int("status", f.Status), slog.Int64("attempts", w.Attempts), attr("error", errText(f.Err)))
				if ferr := ws.FailWebhook(ctx, w.ID, w.Attempts, now.Add(delay), f.stored(), w.FailingSince); ferr != nil {
					return ferr
				}
				break
			}
			if err := ws.AckWebhook(ctx, w.ID, c.ID); err != nil {
				return err
			}
			w.Cursor, w.Attempts, w.FailingSince = c.ID, 0, time.Time{}
		}
	}
	return nil
}

// postWebhook checks w's URL against the policy again (the configuration
// may have changed since the webhook was created), then posts body signed
// now.
func (s *Service) postWebhook(ctx context.Context, post Poster, w Webhook, eventID string, body []byte) error {
	if _, err := s.webhookPolicy.CheckURL(w.URL); err != nil {
		return &DeliveryFailure{Reason: FailureURLNotAllowed, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return post(ctx, w.URL, body, map[string]string{
		"Content-Type": "application/json", "X-Fiveid-Event": eventID, "X-Fiveid-Signature": SignWebhook(w.Secret, s.now(), body)})
}

// deliveryFailure is err as a DeliveryFailure; an error a Poster did not
// classify is FailureOther.
func deliveryFailure(err error) *DeliveryFailure {
	var f *DeliveryFailure
	if errors.As(err, &f) && slices.Contains(DeliveryFailureReasons, f.Reason) {
		return f
	}
	return &DeliveryFailure{Reason: FailureOther, Err: err}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
