package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"fiveid"
)

// NewPoster delivers webhooks over HTTP: a 2xx answer is an
// acknowledgement, anything else (or no answer) a failure to retry.
func NewPoster(client *http.Client) fiveid.Poster {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return func(ctx context.Context, url string, body []byte, headers map[string]string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("receiver answered %d", resp.StatusCode)
		}
		return nil
	}
}

// WebhookWire is a webhook with its delivery state; Secret only at creation.
type WebhookWire struct {
	ID           string     `json:"id"`
	URL          string     `json:"url"`
	Secret       string     `json:"secret,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	Cursor       string     `json:"cursor"`
	Delivered    int64      `json:"delivered"`
	Attempts     int64      `json:"failed_attempts"`
	NextAttempt  *time.Time `json:"next_attempt,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
	FailingSince *time.Time `json:"failing_since,omitempty"`
}

func webhookWire(w fiveid.Webhook, secret string) WebhookWire {
	out := WebhookWire{ID: w.ID, URL: w.URL, Secret: secret, CreatedAt: w.CreatedAt, Cursor: w.Cursor, Delivered: w.Delivered,
		Attempts: w.Attempts, LastError: w.LastError}
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
