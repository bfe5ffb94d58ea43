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
	"net/url"
	"time"
)

// Poster delivers one signed webhook body; a non-nil error (including a
// non-2xx answer) means "not delivered, retry". The HTTP adapter is in api.
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

// SignWebhook is the X-Fiveid-Signature header value of body.
func SignWebhook(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (s *Service) webhookStore() (WebhookStore, error) {
	ws, ok := s.store.(WebhookStore)
	if !ok {
		return nil, errors.New("this store keeps no webhooks")
	}
	return ws, nil
}

// CreateWebhook subscribes url to every customer change from now on
// (admin). The signing secret is returned once.
func (s *Service) CreateWebhook(ctx context.Context, p Principal, rawURL string) (Webhook, string, error) {
	if err := require(p, RoleAdmin); err != nil {
		return Webhook{}, "", err
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Webhook{}, "", invalid("url", "invalid_url", "url must be an absolute http(s) URL")
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
	w := Webhook{ID: newID("wh_"), URL: u.String(), Secret: []byte(hexSecret), CreatedAt: s.now().UTC().Truncate(time.Microsecond), Cursor: cursor}
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
	return ws.DeleteWebhook(ctx, id, s.now())
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
		now := s.now()
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
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := post(pctx, w.URL, body, map[string]string{
				"Content-Type": "application/json", "X-Fiveid-Event": c.ID, "X-Fiveid-Signature": SignWebhook(w.Secret, body)})
			cancel()
			if err != nil {
				w.Attempts++
				delay := opt.Backoff << min(w.Attempts-1, 20)
				if delay > opt.MaxBackoff || delay <= 0 {
					delay = opt.MaxBackoff
				}
				if w.FailingSince.IsZero() {
					w.FailingSince = now
				}
				msg := err.Error()
				if len(msg) > 500 {
					msg = msg[:500]
				}
				if ferr := ws.FailWebhook(ctx, w.ID, w.Attempts, now.Add(delay), msg, w.FailingSince); ferr != nil {
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
