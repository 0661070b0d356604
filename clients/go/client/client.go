// Package client is the Go client for datacat, a self-hosted session, state, event and
// metric logging service.
//
// It keeps the original datacat Go client's surface — NewClient, CreateSession,
// GetSession, UpdateState, LogEvent, LogMetric, EndSession, GetAllSessions — so a program
// written for the original compiles with only its import path changed. Beyond it:
//
//   - context-first variants of every call (CreateSessionCtx, GetSessionCtx, ...);
//   - an API key (WithAPIKey, default $DATACAT_API_KEY) sent with every request;
//   - creation options (WithProduct, WithVersion, WithHost, WithMetadata,
//     WithHeartbeatTimeout);
//   - typed errors: *APIError, with errors.Is(err, ErrNotFound) for 404,
//     errors.Is(err, ErrInvalid) for 422 and ErrUnauthorized / ErrForbidden for 401 / 403;
//   - Heartbeat (keep-alives) and Batch (POST /api/batch);
//   - pre-aggregated histograms (LogHistogram, BatchSession.Histogram, HistogramItem);
//   - BatchSession, which queues writes and delivers them from a background goroutine,
//     exactly once, with retries; and Monitor, which detects a hung application.
//
// The package uses the standard library only.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout is the HTTP timeout of the client NewClient makes.
const DefaultTimeout = 30 * time.Second

// APIKeyEnv is the environment variable NewClient takes the API key from.
const APIKeyEnv = "DATACAT_API_KEY"

// Session end statuses accepted by EndSessionAs.
const (
	StatusEnded   = "ended"
	StatusCrashed = "crashed"
)

// Client talks to one datacat server. Its methods are safe for concurrent use.
//
// The zero HTTPClient means http.DefaultClient; NewClient sets one with a 30 s timeout.
// A non-empty APIKey is sent as "Authorization: Bearer KEY" with every request (direct
// calls, BatchSession batches, Monitor keep-alives); NewClient takes it from
// $DATACAT_API_KEY unless WithAPIKey says otherwise.
type Client struct {
	BaseURL    string
	HTTPClient *http.Client
	APIKey     APIKey
}

// APIKey is a datacat API key. Printing it (fmt's %v, %+v, %#v, %s, %q) shows
// "[redacted]", so logging a Client never reveals its key; string(key) is the key.
type APIKey string

// String hides the key.
func (k APIKey) String() string {
	if k == "" {
		return ""
	}
	return "[redacted]"
}

// GoString hides the key from %#v.
func (k APIKey) GoString() string { return strconv.Quote(k.String()) }

// ClientOption configures the client NewClient returns.
type ClientOption func(*Client)

// WithAPIKey sets the API key sent with every request, overriding $DATACAT_API_KEY; ""
// sends none.
func WithAPIKey(key string) ClientOption {
	return func(c *Client) { c.APIKey = APIKey(strings.TrimSpace(key)) }
}

// NewClient returns a client for the datacat server at baseURL (e.g.
// "http://localhost:8080") with a 30 s HTTP timeout and the API key in $DATACAT_API_KEY
// (if set); options override these.
func NewClient(baseURL string, opts ...ClientOption) *Client {
	c := &Client{
		BaseURL:    strings.TrimRight(baseURL, "/"),
		HTTPClient: &http.Client{Timeout: DefaultTimeout},
		APIKey:     APIKey(strings.TrimSpace(os.Getenv(APIKeyEnv))),
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// ---------------------------------------------------------------------------------------
// The original surface (context.Background()).

// CreateSession registers a new session and returns its id.
func (c *Client) CreateSession() (string, error) {
	return c.CreateSessionCtx(context.Background())
}

// GetSession returns the session with its state, events and metrics.
func (c *Client) GetSession(id string) (*Session, error) {
	return c.GetSessionCtx(context.Background(), id)
}

// UpdateState deep-merges state into the session's state.
func (c *Client) UpdateState(id string, state map[string]interface{}) error {
	return c.UpdateStateCtx(context.Background(), id, state)
}

// LogEvent logs an event with optional data (nil for none).
func (c *Client) LogEvent(id, name string, data map[string]interface{}) error {
	var d interface{}
	if data != nil {
		d = data
	}
	return c.LogEventCtx(context.Background(), id, name, d)
}

// LogMetric logs a metric value with optional tags (nil for none).
func (c *Client) LogMetric(id, name string, value float64, tags []string) error {
	var t interface{}
	if tags != nil {
		t = tags
	}
	return c.LogMetricCtx(context.Background(), id, name, value, t)
}

// EndSession ends the session cleanly (status "ended").
func (c *Client) EndSession(id string) error {
	return c.EndSessionCtx(context.Background(), id)
}

// GetAllSessions returns every session, with events and metrics (GET /api/grafana/sessions).
func (c *Client) GetAllSessions() ([]*Session, error) {
	return c.GetAllSessionsCtx(context.Background())
}

// ---------------------------------------------------------------------------------------
// Context-first calls.

// SessionOption sets a field of a new session (see CreateSessionCtx).
type SessionOption func(*createBody)

type createBody struct {
	Product          *string                `json:"product,omitempty"`
	Version          *string                `json:"version,omitempty"`
	Host             *string                `json:"host,omitempty"`
	Metadata         map[string]interface{} `json:"metadata,omitempty"`
	HeartbeatTimeout *float64               `json:"heartbeat_timeout,omitempty"`

	batch *BatchConfig // StartSession only
}

// WithProduct names the product the session belongs to.
func WithProduct(product string) SessionOption {
	return func(b *createBody) { b.Product = &product }
}

// WithVersion records the product version.
func WithVersion(version string) SessionOption {
	return func(b *createBody) { b.Version = &version }
}

// WithHost records the host the application runs on.
func WithHost(host string) SessionOption {
	return func(b *createBody) { b.Host = &host }
}

// WithMetadata attaches free-form metadata (a JSON object) to the session.
func WithMetadata(metadata map[string]interface{}) SessionOption {
	return func(b *createBody) { b.Metadata = metadata }
}

// WithHeartbeatTimeout arms abandonment detection: without a keep-alive for this long the
// server marks the session "abandoned".
func WithHeartbeatTimeout(timeout time.Duration) SessionOption {
	return func(b *createBody) {
		s := timeout.Seconds()
		b.HeartbeatTimeout = &s
	}
}

// CreateSessionCtx registers a new session and returns its id.
func (c *Client) CreateSessionCtx(ctx context.Context, opts ...SessionOption) (string, error) {
	var body interface{}
	if len(opts) > 0 {
		b := &createBody{}
		for _, opt := range opts {
			opt(b)
		}
		body = b
	}
	var out struct {
		SessionID string `json:"session_id"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/sessions", body, &out); err != nil {
		return "", err
	}
	return out.SessionID, nil
}

// GetSessionCtx returns the session with its state, events and metrics.
func (c *Client) GetSessionCtx(ctx context.Context, id string) (*Session, error) {
	var s Session
	if err := c.do(ctx, http.MethodGet, sessionPath(id, ""), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// UpdateStateCtx deep-merges state into the session's state.
func (c *Client) UpdateStateCtx(ctx context.Context, id string, state map[string]interface{}) error {
	if state == nil {
		state = map[string]interface{}{}
	}
	return c.do(ctx, http.MethodPost, sessionPath(id, "/state"), state, nil)
}

// WriteOption sets the client id or timestamp of one event or metric, or one of its
// optional fields: WithKind and WithUnit for a metric, WithLevel, WithMessage, WithCategory
// and WithLabels for an event (an option that does not apply to the write is ignored).
type WriteOption func(*writeMeta)

type writeMeta struct {
	ID        string
	Timestamp time.Time
	fields
}

// fields are issue 12's optional event and metric fields; "" / nil means not given.
type fields struct {
	Kind, Unit               string
	Level, Message, Category string
	Labels                   []string
}

// WithKind sets a metric's kind: KindGauge (the default), KindCounter, KindTimer or
// KindHistogram.
func WithKind(kind string) WriteOption { return func(m *writeMeta) { m.Kind = kind } }

// WithUnit sets a metric's unit (free text, 1..64 characters: "ms", "bytes", "%").
func WithUnit(unit string) WriteOption { return func(m *writeMeta) { m.Unit = unit } }

// WithLevel sets an event's level: LevelDebug .. LevelCritical (default LevelInfo).
func WithLevel(level string) WriteOption { return func(m *writeMeta) { m.Level = level } }

// WithMessage sets an event's message: one searchable line (≤ 8192 characters).
func WithMessage(message string) WriteOption {
	return func(m *writeMeta) { m.Message = message }
}

// WithCategory sets an event's category.
func WithCategory(category string) WriteOption {
	return func(m *writeMeta) { m.Category = category }
}

// WithLabels sets an event's labels.
func WithLabels(labels ...string) WriteOption {
	return func(m *writeMeta) { m.Labels = labels }
}

// WithClientID gives the write a client-made id (≤ 64 characters): the server stores a
// write with an id it already holds for the session only once, so it can be resent safely.
func WithClientID(id string) WriteOption {
	return func(m *writeMeta) { m.ID = id }
}

// WithTimestamp sets when the event or metric happened (default: when the server got it).
func WithTimestamp(t time.Time) WriteOption {
	return func(m *writeMeta) { m.Timestamp = t }
}

type eventBody struct {
	Name      string      `json:"name"`
	Data      interface{} `json:"data,omitempty"`
	Timestamp string      `json:"timestamp,omitempty"`
	ID        string      `json:"id,omitempty"`
	Level     string      `json:"level,omitempty"`
	Message   string      `json:"message,omitempty"`
	Category  string      `json:"category,omitempty"`
	Labels    []string    `json:"labels,omitempty"`
}

type metricBody struct {
	Name      string      `json:"name"`
	Value     float64     `json:"value"`
	Tags      interface{} `json:"tags,omitempty"`
	Timestamp string      `json:"timestamp,omitempty"`
	ID        string      `json:"id,omitempty"`
	Kind      string      `json:"kind,omitempty"`
	Unit      string      `json:"unit,omitempty"`
	*histogram
}

// LogEventCtx logs an event; data is any JSON value (nil for none).
func (c *Client) LogEventCtx(ctx context.Context, id, name string, data interface{}, opts ...WriteOption) error {
	m := applyWrite(opts)
	body := eventBody{
		Name: name, Data: data, Timestamp: formatTime(m.Timestamp), ID: m.ID,
		Level: m.Level, Message: m.Message, Category: m.Category, Labels: m.Labels,
	}
	return c.do(ctx, http.MethodPost, sessionPath(id, "/events"), body, nil)
}

// LogMetricCtx logs a metric value; tags is nil, a []string, or a map[string]interface{}.
func (c *Client) LogMetricCtx(ctx context.Context, id, name string, value float64, tags interface{}, opts ...WriteOption) error {
	m := applyWrite(opts)
	body := metricBody{
		Name: name, Value: value, Tags: tags, Timestamp: formatTime(m.Timestamp), ID: m.ID,
		Kind: m.Kind, Unit: m.Unit,
	}
	return c.do(ctx, http.MethodPost, sessionPath(id, "/metrics"), body, nil)
}

// EndSessionCtx ends the session cleanly (status "ended").
func (c *Client) EndSessionCtx(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, sessionPath(id, "/end"), nil, nil)
}

// EndSessionAs ends the session with status StatusEnded or StatusCrashed.
func (c *Client) EndSessionAs(ctx context.Context, id, status string) error {
	body := map[string]string{"status": status}
	return c.do(ctx, http.MethodPost, sessionPath(id, "/end"), body, nil)
}

// Heartbeat sends a keep-alive for the session. A positive timeout arms abandonment
// detection: without another keep-alive within it, the server marks the session abandoned.
func (c *Client) Heartbeat(ctx context.Context, id string, timeout time.Duration) error {
	var body interface{}
	if timeout > 0 {
		body = map[string]float64{"timeout": timeout.Seconds()}
	}
	return c.do(ctx, http.MethodPost, sessionPath(id, "/heartbeat"), body, nil)
}

// Filter narrows GetAllSessionsCtx (the query parameters of GET /api/grafana/sessions).
type Filter func(url.Values)

// FilterActive keeps sessions whose active flag is active.
func FilterActive(active bool) Filter {
	return func(q url.Values) { q.Set("active", strconv.FormatBool(active)) }
}

// FilterStatus keeps sessions with this status (active, ended, hung, crashed, abandoned).
func FilterStatus(status string) Filter {
	return func(q url.Values) { q.Set("status", status) }
}

// FilterProduct keeps sessions of this product.
func FilterProduct(product string) Filter {
	return func(q url.Values) { q.Set("product", product) }
}

// FilterSince keeps sessions created at or after t.
func FilterSince(t time.Time) Filter {
	return func(q url.Values) { q.Set("since", formatTime(t)) }
}

// FilterLimit returns at most n sessions.
func FilterLimit(n int) Filter {
	return func(q url.Values) { q.Set("limit", strconv.Itoa(n)) }
}

// FilterState keeps sessions whose state matches: mode "current" (the value at the dotted
// path equals value), "contains" (the array there holds it) or "ever" (at some time).
func FilterState(path, value, mode string) Filter {
	return func(q url.Values) {
		q.Set("state_path", path)
		q.Set("state_value", value)
		if mode != "" {
			q.Set("state_mode", mode)
		}
	}
}

// GetAllSessionsCtx returns every session matching the filters, with events and metrics.
func (c *Client) GetAllSessionsCtx(ctx context.Context, filters ...Filter) ([]*Session, error) {
	path := "/api/grafana/sessions"
	if len(filters) > 0 {
		q := url.Values{}
		for _, f := range filters {
			f(q)
		}
		path += "?" + q.Encode()
	}
	sessions := []*Session{}
	if err := c.do(ctx, http.MethodGet, path, nil, &sessions); err != nil {
		return nil, err
	}
	return sessions, nil
}

// Batch sends many writes across sessions in one request (POST /api/batch). They are
// applied in order, in one transaction: a batch with any bad item is refused whole with a
// 422 *APIError whose Detail lists each bad item's index.
func (c *Client) Batch(ctx context.Context, items []BatchItem) (*BatchResult, error) {
	body, err := json.Marshal(batchRequest{Items: items})
	if err != nil {
		return nil, invalid(err)
	}
	return c.batchRaw(ctx, body)
}

func (c *Client) batchRaw(ctx context.Context, body []byte) (*BatchResult, error) {
	var out BatchResult
	if err := c.do(ctx, http.MethodPost, "/api/batch", json.RawMessage(body), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ---------------------------------------------------------------------------------------
// Transport.

func sessionPath(id, suffix string) string {
	return "/api/sessions/" + url.PathEscape(id) + suffix
}

func applyWrite(opts []WriteOption) writeMeta {
	var m writeMeta
	for _, opt := range opts {
		opt(&m)
	}
	return m
}

// formatTime is RFC 3339 in UTC with microseconds, or "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return http.DefaultClient
}

func (c *Client) do(ctx context.Context, method, path string, body, out interface{}) error {
	var reader io.Reader
	if body != nil {
		var data []byte
		if raw, ok := body.(json.RawMessage); ok {
			data = raw
		} else {
			var err error
			if data, err = json.Marshal(body); err != nil {
				return invalid(err)
			}
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, reader)
	if err != nil {
		return fmt.Errorf("datacat: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+string(c.APIKey))
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return &TransportError{Method: method, Path: path, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e := apiError(resp)
		e.noKey = c.APIKey == ""
		return e
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return &TransportError{Method: method, Path: path, Err: fmt.Errorf("decoding the answer: %w", err)}
	}
	return nil
}

func apiError(resp *http.Response) *APIError {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &APIError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	var parsed struct {
		Detail interface{} `json:"detail"`
	}
	if json.Unmarshal(data, &parsed) == nil && parsed.Detail != nil {
		e.Detail = parsed.Detail
	} else {
		e.Detail = strings.TrimSpace(string(data))
	}
	return e
}

func parseRetryAfter(value string) time.Duration {
	if value == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(value, 64); err == nil && secs > 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(value); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// ---------------------------------------------------------------------------------------
// Errors.

// Sentinel errors for errors.Is. An *APIError matches the one for its status.
var (
	// ErrNotFound: the session (or path) does not exist (HTTP 404).
	ErrNotFound = errors.New("datacat: not found")
	// ErrInvalid: the request was malformed or wrongly typed (HTTP 422), or could not be
	// encoded as JSON (e.g. a NaN metric value) and was not sent.
	ErrInvalid = errors.New("datacat: invalid request")
	// ErrTooLarge: the body was over the server's size limit (HTTP 413).
	ErrTooLarge = errors.New("datacat: request too large")
	// ErrServer: the server failed or is unavailable (HTTP 5xx); worth retrying.
	ErrServer = errors.New("datacat: server error")
	// ErrUnauthorized: no API key, or one the server does not know or has revoked (HTTP
	// 401). Never retried: the same key is refused again.
	ErrUnauthorized = errors.New("datacat: authentication failed")
	// ErrForbidden: the key's scope does not allow the call, e.g. a read key writing
	// (HTTP 403). Never retried.
	ErrForbidden = errors.New("datacat: forbidden")
	// ErrClosed: the BatchSession was ended; the write was not queued.
	ErrClosed = errors.New("datacat: session closed")
	// ErrQueueFull: the BatchSession's queue is full and its overflow policy is DropNewest.
	ErrQueueFull = errors.New("datacat: queue full")
)

// APIError is an HTTP error answer from the server. Detail is the decoded "detail" of its
// JSON body (a string, or for 422 a list of {loc, msg, ...} objects), or the raw body text.
type APIError struct {
	Status     int
	Detail     interface{}
	RetryAfter time.Duration // from a Retry-After header (503), else 0

	noKey bool // the request carried no API key: a 401 says how to give one
}

func (e *APIError) Error() string {
	detail, err := json.Marshal(e.Detail)
	if err != nil {
		detail = []byte(fmt.Sprint(e.Detail))
	}
	switch e.Status {
	case http.StatusUnauthorized:
		hint := ""
		if e.noKey {
			hint = "; no API key was sent: use WithAPIKey or set " + APIKeyEnv
		}
		return fmt.Sprintf("datacat: authentication failed (401): %s%s", detail, hint)
	case http.StatusForbidden:
		return fmt.Sprintf("datacat: forbidden (403): %s", detail)
	}
	return fmt.Sprintf("datacat: HTTP %d %s: %s", e.Status, http.StatusText(e.Status), detail)
}

// Is reports whether the error is the sentinel for its status class.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrInvalid:
		return e.Status == http.StatusUnprocessableEntity
	case ErrTooLarge:
		return e.Status == http.StatusRequestEntityTooLarge
	case ErrServer:
		return e.Status >= 500
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	}
	return false
}

// TransportError is a request that got no HTTP answer (connection refused, timeout, ...)
// or an answer that could not be decoded. It unwraps to the underlying error.
type TransportError struct {
	Method string
	Path   string
	Err    error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("datacat: %s %s: %v", e.Method, e.Path, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

type invalidError struct{ err error }

func (e *invalidError) Error() string        { return "datacat: invalid request: " + e.err.Error() }
func (e *invalidError) Unwrap() error        { return e.err }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(err error) error { return &invalidError{err: err} }

// refusedKey: a 401 or 403, which the same key would get again.
func refusedKey(err error) bool {
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden)
}

// retryable: connection errors, timeouts, 408, 429 and 5xx — never another 4xx.
func retryable(err error) bool {
	var api *APIError
	if errors.As(err, &api) {
		return api.Status == http.StatusRequestTimeout || api.Status == http.StatusTooManyRequests || api.Status >= 500
	}
	var tr *TransportError
	return errors.As(err, &tr)
}
