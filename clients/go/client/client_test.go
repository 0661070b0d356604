package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorded is one request the fake server saw.
type recorded struct {
	Method string
	Path   string
	Query  string
	Body   map[string]interface{}
	Raw    string
	Auth   string // the Authorization header
}

// fake is an httptest server that records requests and answers with a handler.
type fake struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	answer   func(w http.ResponseWriter, r recorded, n int) // n: index of this request
}

func newFake(t testing.TB, answer func(w http.ResponseWriter, r recorded, n int)) *fake {
	t.Helper()
	f := &fake{answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _ := io.ReadAll(req.Body)
		rec := recorded{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery, Raw: string(raw),
			Auth: req.Header.Get("Authorization")}
		if len(raw) > 0 {
			_ = json.Unmarshal(raw, &rec.Body)
		}
		f.mu.Lock()
		n := len(f.requests)
		f.requests = append(f.requests, rec)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if f.answer != nil {
			f.answer(w, rec, n)
			return
		}
		writeOK(w, rec)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) seen() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

func writeOK(w http.ResponseWriter, r recorded) {
	switch {
	case r.Path == "/api/sessions" && r.Method == http.MethodPost:
		_, _ = io.WriteString(w, `{"session_id":"s-1"}`)
	case r.Path == "/api/batch":
		items, _ := r.Body["items"].([]interface{})
		_ = json.NewEncoder(w).Encode(map[string]interface{}{"status": "ok", "accepted": len(items), "duplicates": 0})
	default:
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}
}

const sessionJSON = `{"id":"s-1","created_at":"2026-01-01T00:00:00.123456Z","updated_at":"2026-01-01T00:00:01Z",
"ended_at":null,"last_seen_at":"2026-01-01T00:00:02Z","active":true,"status":"active","product":"shop",
"version":"1.2","host":"h1","metadata":{"team":"a"},"heartbeat_timeout":45.0,
"state":{"app":{"status":"running"}},
"events":[{"timestamp":"2026-01-01T00:00:00.5Z","name":"started","data":{"user":"alice"}}],
"metrics":[{"timestamp":"2026-01-01T00:00:00.6Z","name":"cpu","value":45.2,"tags":["host:a"]},
{"timestamp":"2026-01-01T00:00:00.7Z","name":"mem","value":1,"tags":{"k":"v"}}]}`

func TestNewClientDefaults(t *testing.T) {
	c := NewClient("http://example.com/")
	if c.BaseURL != "http://example.com" {
		t.Fatalf("BaseURL = %q", c.BaseURL)
	}
	if c.HTTPClient == nil || c.HTTPClient.Timeout != 30*time.Second {
		t.Fatalf("HTTPClient timeout = %v, want 30s", c.HTTPClient)
	}
	// A zero Client works too (http.DefaultClient).
	f := newFake(t, nil)
	id, err := (&Client{BaseURL: f.URL}).CreateSession()
	if err != nil || id != "s-1" {
		t.Fatalf("zero client: %q %v", id, err)
	}
}

func TestOriginalSurfaceRequests(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) {
		if r.Method == http.MethodGet && r.Path == "/api/sessions/s-1" {
			_, _ = io.WriteString(w, sessionJSON)
			return
		}
		if r.Path == "/api/grafana/sessions" {
			_, _ = io.WriteString(w, "["+sessionJSON+","+sessionJSON+"]")
			return
		}
		writeOK(w, r)
	})
	c := NewClient(f.URL)
	id, err := c.CreateSession()
	if err != nil || id != "s-1" {
		t.Fatalf("CreateSession: %q %v", id, err)
	}
	must(t, c.UpdateState(id, map[string]interface{}{"a": map[string]interface{}{"b": 1}}))
	must(t, c.LogEvent(id, "started", map[string]interface{}{"user": "alice"}))
	must(t, c.LogEvent(id, "bare", nil))
	must(t, c.LogMetric(id, "cpu", 45.2, []string{"host:a"}))
	must(t, c.LogMetric(id, "mem", 0, nil))
	must(t, c.EndSession(id))
	s, err := c.GetSession(id)
	must(t, err)
	all, err := c.GetAllSessions()
	must(t, err)
	if len(all) != 2 || all[1].ID != "s-1" {
		t.Fatalf("GetAllSessions: %+v", all)
	}

	reqs := f.seen()
	want := []struct{ method, path, raw string }{
		{"POST", "/api/sessions", ""},
		{"POST", "/api/sessions/s-1/state", `{"a":{"b":1}}`},
		{"POST", "/api/sessions/s-1/events", `{"name":"started","data":{"user":"alice"}}`},
		{"POST", "/api/sessions/s-1/events", `{"name":"bare"}`},
		{"POST", "/api/sessions/s-1/metrics", `{"name":"cpu","value":45.2,"tags":["host:a"]}`},
		{"POST", "/api/sessions/s-1/metrics", `{"name":"mem","value":0}`},
		{"POST", "/api/sessions/s-1/end", ""},
		{"GET", "/api/sessions/s-1", ""},
		{"GET", "/api/grafana/sessions", ""},
	}
	if len(reqs) != len(want) {
		t.Fatalf("got %d requests, want %d: %+v", len(reqs), len(want), reqs)
	}
	for i, w := range want {
		if reqs[i].Method != w.method || reqs[i].Path != w.path || reqs[i].Raw != w.raw {
			t.Errorf("request %d = %s %s %s, want %s %s %s", i, reqs[i].Method, reqs[i].Path, reqs[i].Raw, w.method, w.path, w.raw)
		}
	}

	// Every field of the session object decodes.
	if s.ID != "s-1" || !s.Active || s.EndedAt != nil || s.Status != "active" || s.Product != "shop" ||
		s.Version != "1.2" || s.Host != "h1" || s.Metadata["team"] != "a" ||
		s.HeartbeatTimeout == nil || *s.HeartbeatTimeout != 45 {
		t.Fatalf("session fields: %+v", s)
	}
	if s.CreatedAt.Nanosecond() != 123456000 || s.LastSeenAt.IsZero() || s.UpdatedAt.IsZero() {
		t.Fatalf("times: %v %v %v", s.CreatedAt, s.UpdatedAt, s.LastSeenAt)
	}
	if s.State["app"].(map[string]interface{})["status"] != "running" {
		t.Fatalf("state: %v", s.State)
	}
	if len(s.Events) != 1 || s.Events[0].Name != "started" || s.Events[0].Data.(map[string]interface{})["user"] != "alice" {
		t.Fatalf("events: %+v", s.Events)
	}
	if len(s.Metrics) != 2 || s.Metrics[0].Value != 45.2 {
		t.Fatalf("metrics: %+v", s.Metrics)
	}
	if tags, ok := s.Metrics[0].Tags.([]interface{}); !ok || tags[0] != "host:a" {
		t.Fatalf("list tags: %#v", s.Metrics[0].Tags)
	}
	if tags, ok := s.Metrics[1].Tags.(map[string]interface{}); !ok || tags["k"] != "v" {
		t.Fatalf("object tags: %#v", s.Metrics[1].Tags)
	}
}

func TestContextVariantsAndOptions(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) {
		if r.Path == "/api/grafana/sessions" {
			_, _ = io.WriteString(w, "[]")
			return
		}
		writeOK(w, r)
	})
	c := NewClient(f.URL)
	ctx := context.Background()
	_, err := c.CreateSessionCtx(ctx, WithProduct("shop"), WithVersion("1.4.2"), WithHost("h"),
		WithMetadata(map[string]interface{}{"k": 1}), WithHeartbeatTimeout(90*time.Second))
	must(t, err)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.FixedZone("x", 3600))
	must(t, c.LogEventCtx(ctx, "s/1", "e", []int{1, 2}, WithClientID("c-1"), WithTimestamp(ts)))
	must(t, c.LogMetricCtx(ctx, "s-1", "m", 1.5, map[string]interface{}{"k": "v"}, WithClientID("c-2")))
	must(t, c.UpdateStateCtx(ctx, "s-1", nil))
	must(t, c.EndSessionAs(ctx, "s-1", StatusCrashed))
	must(t, c.Heartbeat(ctx, "s-1", 45*time.Second))
	must(t, c.Heartbeat(ctx, "s-1", 0))
	all, err := c.GetAllSessionsCtx(ctx, FilterActive(true), FilterStatus("hung"), FilterProduct("shop"),
		FilterLimit(5), FilterState("window_state.open", "space probe", "contains"),
		FilterSince(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	must(t, err)
	if all == nil || len(all) != 0 {
		t.Fatalf("empty export: %#v", all)
	}
	reqs := f.seen()
	wantRaw := []string{
		`{"product":"shop","version":"1.4.2","host":"h","metadata":{"k":1},"heartbeat_timeout":90}`,
		`{"name":"e","data":[1,2],"timestamp":"2026-01-02T02:04:05.678901Z","id":"c-1"}`,
		`{"name":"m","value":1.5,"tags":{"k":"v"},"id":"c-2"}`,
		`{}`,
		`{"status":"crashed"}`,
		`{"timeout":45}`,
		``,
	}
	for i, w := range wantRaw {
		if reqs[i].Raw != w {
			t.Errorf("request %d body = %s, want %s", i, reqs[i].Raw, w)
		}
	}
	if reqs[1].Path != "/api/sessions/s%2F1/events" && reqs[1].Path != "/api/sessions/s/1/events" {
		t.Errorf("escaped path: %s", reqs[1].Path)
	}
	if reqs[5].Path != "/api/sessions/s-1/heartbeat" {
		t.Errorf("heartbeat path: %s", reqs[5].Path)
	}
	q := reqs[7].Query
	for _, part := range []string{"active=true", "status=hung", "product=shop", "limit=5",
		"state_path=window_state.open", "state_value=space+probe", "state_mode=contains",
		"since=2026-01-01T00%3A00%3A00.000000Z"} {
		if !strings.Contains(q, part) {
			t.Errorf("query %q lacks %q", q, part)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) {
		switch r.Path {
		case "/api/sessions/missing":
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"detail":"Session not found"}`)
		case "/api/sessions/s-1/metrics":
			w.WriteHeader(422)
			_, _ = io.WriteString(w, `{"detail":[{"loc":["body","value"],"msg":"Input should be a valid number"}]}`)
		case "/api/sessions/s-1/state":
			w.WriteHeader(413)
			_, _ = io.WriteString(w, `{"detail":"too large"}`)
		case "/api/sessions/s-1/events":
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(503)
			_, _ = io.WriteString(w, `not json`)
		default:
			writeOK(w, r)
		}
	})
	c := NewClient(f.URL)
	_, err := c.GetSession("missing")
	var api *APIError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &api) || api.Status != 404 || api.Detail != "Session not found" {
		t.Fatalf("404: %v", err)
	}
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrServer) {
		t.Fatalf("404 matches other sentinels: %v", err)
	}
	if !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "Session not found") {
		t.Fatalf("message: %v", err)
	}
	err = c.LogMetric("s-1", "m", 1, nil)
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &api) || api.Status != 422 {
		t.Fatalf("422: %v", err)
	}
	if list, ok := api.Detail.([]interface{}); !ok || len(list) != 1 {
		t.Fatalf("422 detail: %#v", api.Detail)
	}
	if err := c.UpdateState("s-1", map[string]interface{}{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("413: %v", err)
	}
	err = c.LogEvent("s-1", "e", nil)
	if !errors.Is(err, ErrServer) || !errors.As(err, &api) || api.Detail != "not json" || api.RetryAfter != 2*time.Second {
		t.Fatalf("503: %#v", err)
	}
	if !retryable(err) {
		t.Fatal("503 must be retryable")
	}
	// A value JSON cannot carry is refused before sending.
	before := len(f.seen())
	err = c.LogMetricCtx(context.Background(), "s-1", "m", math.NaN(), nil)
	if !errors.Is(err, ErrInvalid) || len(f.seen()) != before {
		t.Fatalf("NaN: %v", err)
	}
	// No server: a *TransportError, retryable, not an APIError.
	f.Close()
	err = c.EndSession("s-1")
	var tr *TransportError
	if !errors.As(err, &tr) || errors.As(err, &api) || !retryable(err) {
		t.Fatalf("transport: %#v", err)
	}
	if retryable(&APIError{Status: 400}) || !retryable(&APIError{Status: 429}) {
		t.Fatal("retry classification")
	}
}

func TestBatchItemsOnTheWire(t *testing.T) {
	f := newFake(t, nil)
	c := NewClient(f.URL)
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := EventItem("s-1", "e", map[string]interface{}{"a": 1})
	ev.ID, ev.Timestamp = "id-1", ts
	items := []BatchItem{
		StateItem("s-1", map[string]interface{}{"x": 1}),
		ev,
		MetricItem("s-1", "m", 0, []string{"t"}),
		HeartbeatItem("s-1", 30*time.Second),
		HeartbeatItem("s-1", 0),
		EndItem("s-1", StatusEnded),
	}
	res, err := c.Batch(context.Background(), items)
	must(t, err)
	if res.Status != "ok" || res.Accepted != len(items) || res.Duplicates != 0 {
		t.Fatalf("result: %+v", res)
	}
	raw := f.seen()[0].Raw
	want := `{"items":[{"op":"state","session_id":"s-1","state":{"x":1}},` +
		`{"op":"event","session_id":"s-1","id":"id-1","timestamp":"2026-01-01T00:00:00.000000Z","name":"e","data":{"a":1}},` +
		`{"op":"metric","session_id":"s-1","name":"m","value":0,"tags":["t"]},` +
		`{"op":"heartbeat","session_id":"s-1","timeout":30},` +
		`{"op":"heartbeat","session_id":"s-1"},` +
		`{"op":"end","session_id":"s-1","status":"ended"}]}`
	if raw != want {
		t.Fatalf("batch body\n got %s\nwant %s", raw, want)
	}
	if _, err := c.Batch(context.Background(), []BatchItem{{Op: "nope"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown op: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
