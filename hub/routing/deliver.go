package routing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"millwright/hub/store"
)

// Publisher publishes to the MQTT broker; *ingest.Ingest is one.
type Publisher interface {
	// Publish hands payload (which it may keep) to the MQTT client; an
	// error means it was not sent and is worth retrying.
	Publish(topic string, qos byte, retained bool, payload []byte) error
}

// Notice is the JSON body sent to webhooks and MQTT displays.
type Notice struct {
	// Text is a one-line summary, the field chat tools' incoming webhooks
	// display (Slack, Mattermost, Rocket.Chat; Teams reads it too).
	Text  string      `json:"text"`
	Alert noticeAlert `json:"alert"`
	Site  string      `json:"site,omitempty"`
	Line  string      `json:"line,omitempty"`
	// Escalation is 0 for the first routing, n for the n-th escalation.
	Escalation int    `json:"escalation"`
	Rule       string `json:"rule,omitempty"`
}

// noticeAlert is store.Alert with NaN-safe numbers.
type noticeAlert struct {
	ID        string    `json:"id"`
	Gateway   string    `json:"gateway"`
	Machine   string    `json:"machine"`
	Model     string    `json:"model"`
	Severity  string    `json:"severity"`
	Score     *float64  `json:"score"`
	Threshold *float64  `json:"threshold"`
	Start     time.Time `json:"start"`
	Received  time.Time `json:"received"`
	Message   string    `json:"message,omitempty"`
}

func finite(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

func newNotice(a *store.Alert, t *target, escalation int, rule string) Notice {
	var b strings.Builder
	if escalation > 0 {
		b.WriteString("ESCALATED: ")
	}
	fmt.Fprintf(&b, "[%s] %s", strings.ToUpper(a.Severity), a.Machine)
	where := []string{a.Gateway}
	if t.site != "" {
		where = append(where, "site "+t.site)
	}
	if t.line != "" {
		where = append(where, "line "+t.line)
	}
	fmt.Fprintf(&b, " (%s): %s score %s over threshold %s", strings.Join(where, ", "), a.Model,
		strconv.FormatFloat(a.Score, 'f', 3, 64), strconv.FormatFloat(a.Threshold, 'f', 3, 64))
	if a.Message != "" {
		b.WriteString(": " + a.Message)
	}
	fmt.Fprintf(&b, " [alert %s]", a.ID)
	return Notice{
		Text: b.String(),
		Alert: noticeAlert{ID: a.ID, Gateway: a.Gateway, Machine: a.Machine, Model: a.Model, Severity: a.Severity,
			Score: finite(a.Score), Threshold: finite(a.Threshold), Start: a.Start, Received: a.Received, Message: a.Message},
		Site: t.site, Line: t.line, Escalation: escalation, Rule: rule,
	}
}

// errPermanent marks a failure that retrying cannot fix.
var errPermanent = errors.New("permanent failure")

// sender delivers one notice once; the caller retries.
type sender interface {
	send(ctx context.Context, n *Notice, t *target) error
}

type inboxSender struct{}

func (inboxSender) send(context.Context, *Notice, *target) error { return nil }

type webhookSender struct {
	url string
	hc  *http.Client
}

func (w webhookSender) send(ctx context.Context, n *Notice, _ *target) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("%w: encode notice: %w", errPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.hc.Do(req)
	if err != nil {
		// The URL often carries the webhook's secret token: keep it out of logs.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		return fmt.Errorf("webhook post: %s", resp.Status)
	default:
		return fmt.Errorf("%w: webhook post: %s", errPermanent, resp.Status)
	}
}

type mqttSender struct {
	pub      Publisher
	topic    string
	qos      byte
	retained bool
}

func (m mqttSender) send(_ context.Context, n *Notice, t *target) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("%w: encode notice: %w", errPermanent, err)
	}
	topic := strings.NewReplacer("{gateway}", t.gateway, "{machine}", t.machine, "{site}", orDash(t.site),
		"{line}", orDash(t.line), "{severity}", t.severity).Replace(m.topic)
	if err := m.pub.Publish(topic, m.qos, m.retained, body); err != nil {
		return fmt.Errorf("mqtt publish %s: %w", topic, err)
	}
	return nil
}

// orDash keeps topic levels non-empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// backoff is the delay before retry number attempt (from 0): doubling from
// lo up to hi, with equal jitter.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for range min(attempt, 32) {
		d *= 2
		if d >= hi {
			d = hi
			break
		}
	}
	half := d / 2
	return half + rand.N(half+1)
}
