package client

// Integration tests against a real datacat server: set DATACAT_TEST_URL (e.g.
// http://127.0.0.1:8080). tests/clients/test_go_client.py starts one and sets it.

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func serverURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("DATACAT_TEST_URL")
	if u == "" {
		t.Skip("DATACAT_TEST_URL is not set: no datacat server to test against")
	}
	return u
}

func TestIntegrationOriginalSurface(t *testing.T) {
	c := NewClient(serverURL(t))
	id, err := c.CreateSession()
	must(t, err)
	must(t, c.UpdateState(id, map[string]interface{}{
		"window_state": map[string]interface{}{"open": []string{"a", "b"}, "active": "a"},
		"memory":       map[string]interface{}{"footprint_mb": 50.2},
	}))
	must(t, c.UpdateState(id, map[string]interface{}{"window_state": map[string]interface{}{"open": []string{"a", "b", "c"}}}))
	must(t, c.LogEvent(id, "started", map[string]interface{}{"user": "alice"}))
	must(t, c.LogEvent(id, "nodata", nil))
	must(t, c.LogMetric(id, "cpu_usage", 45.2, []string{"host:server1"}))
	must(t, c.LogMetric(id, "init_time", 1.234, nil))

	s, err := c.GetSession(id)
	must(t, err)
	ws := s.State["window_state"].(map[string]interface{})
	if len(ws["open"].([]interface{})) != 3 || ws["active"] != "a" || s.State["memory"] == nil {
		t.Fatalf("deep merge: %v", s.State)
	}
	if s.ID != id || !s.Active || s.EndedAt != nil || s.Status != "active" || s.CreatedAt.IsZero() ||
		s.UpdatedAt.IsZero() || s.LastSeenAt.IsZero() {
		t.Fatalf("session: %+v", s)
	}
	if len(s.Events) != 2 || s.Events[0].Name != "started" || s.Events[0].Data.(map[string]interface{})["user"] != "alice" {
		t.Fatalf("events: %+v", s.Events)
	}
	if len(s.Metrics) != 2 || s.Metrics[0].Value != 45.2 || s.Metrics[0].Tags.([]interface{})[0] != "host:server1" {
		t.Fatalf("metrics: %+v", s.Metrics)
	}
	if time.Since(s.Events[0].Timestamp) > time.Hour || s.Events[0].Timestamp.After(time.Now().Add(time.Minute)) {
		t.Fatalf("event time %v", s.Events[0].Timestamp)
	}

	must(t, c.EndSession(id))
	s, err = c.GetSession(id)
	must(t, err)
	if s.Active || s.EndedAt == nil || s.Status != "ended" {
		t.Fatalf("after end: %+v", s)
	}
	all, err := c.GetAllSessions()
	must(t, err)
	found := false
	for _, x := range all {
		if x.ID == id {
			found = len(x.Events) == 2 && len(x.Metrics) == 2
		}
	}
	if !found {
		t.Fatalf("session %s not in GetAllSessions (%d sessions)", id, len(all))
	}
}

func TestIntegrationContextVariantsOptionsAndFilters(t *testing.T) {
	c := NewClient(serverURL(t))
	ctx := ctxT(t)
	product := "go-it-" + time.Now().Format("150405.000000")
	id, err := c.CreateSessionCtx(ctx, WithProduct(product), WithVersion("1.4.2"), WithHost("build-7"),
		WithMetadata(map[string]interface{}{"team": "core"}), WithHeartbeatTimeout(120*time.Second))
	must(t, err)
	ts := time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.UTC)
	must(t, c.UpdateStateCtx(ctx, id, map[string]interface{}{"application": map[string]interface{}{"status": "running"}}))
	must(t, c.LogEventCtx(ctx, id, "list-data", []interface{}{1, "x"}, WithTimestamp(ts), WithClientID("ev-1")))
	must(t, c.LogEventCtx(ctx, id, "list-data", []interface{}{1, "x"}, WithTimestamp(ts), WithClientID("ev-1")))
	must(t, c.LogMetricCtx(ctx, id, "tagged", 7, map[string]interface{}{"region": "eu"}, WithClientID("m-1")))
	must(t, c.LogMetricCtx(ctx, id, "tagged", 7, map[string]interface{}{"region": "eu"}, WithClientID("m-1")))
	must(t, c.Heartbeat(ctx, id, 0))

	s, err := c.GetSessionCtx(ctx, id)
	must(t, err)
	if s.Product != product || s.Version != "1.4.2" || s.Host != "build-7" || s.Metadata["team"] != "core" ||
		s.HeartbeatTimeout == nil || *s.HeartbeatTimeout != 120 {
		t.Fatalf("creation options: %+v", s)
	}
	if len(s.Events) != 1 || !s.Events[0].Timestamp.Equal(ts) || len(s.Metrics) != 1 {
		t.Fatalf("client ids/timestamps: events %+v metrics %+v", s.Events, s.Metrics)
	}
	if tags := s.Metrics[0].Tags.(map[string]interface{}); tags["region"] != "eu" {
		t.Fatalf("object tags: %v", s.Metrics[0].Tags)
	}

	other, err := c.CreateSessionCtx(ctx, WithProduct(product))
	must(t, err)
	must(t, c.EndSessionAs(ctx, other, StatusCrashed))
	o, err := c.GetSessionCtx(ctx, other)
	must(t, err)
	if o.Status != "crashed" || o.Active {
		t.Fatalf("crashed end: %+v", o)
	}

	got, err := c.GetAllSessionsCtx(ctx, FilterProduct(product))
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("product filter: %d sessions", len(got))
	}
	got, err = c.GetAllSessionsCtx(ctx, FilterProduct(product), FilterActive(true),
		FilterState("application.status", "running", "current"))
	must(t, err)
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("active+state filter: %d sessions", len(got))
	}
	got, err = c.GetAllSessionsCtx(ctx, FilterProduct(product), FilterStatus("crashed"), FilterLimit(10),
		FilterSince(time.Now().Add(-time.Hour)))
	must(t, err)
	if len(got) != 1 || got[0].ID != other {
		t.Fatalf("status filter: %d sessions", len(got))
	}
	must(t, c.EndSessionCtx(ctx, id))
}

func TestIntegrationErrors(t *testing.T) {
	c := NewClient(serverURL(t))
	ctx := ctxT(t)
	missing := "00000000-0000-7000-8000-000000000000"
	var api *APIError
	_, err := c.GetSession(missing)
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &api) || api.Status != 404 || api.Detail == nil {
		t.Fatalf("GetSession unknown: %v", err)
	}
	for name, err := range map[string]error{
		"UpdateState": c.UpdateState(missing, map[string]interface{}{"a": 1}),
		"LogEvent":    c.LogEvent(missing, "e", nil),
		"LogMetric":   c.LogMetric(missing, "m", 1, nil),
		"EndSession":  c.EndSession(missing),
		"Heartbeat":   c.Heartbeat(ctx, missing, time.Minute),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s on an unknown session: %v", name, err)
		}
	}

	id, err := c.CreateSession()
	must(t, err)
	for name, err := range map[string]error{
		"empty event name": c.LogEvent(id, "", nil),
		"bad end status":   c.EndSessionAs(ctx, id, "exploded"),
		"long client id":   c.LogEventCtx(ctx, id, "e", nil, WithClientID(strings.Repeat("x", 65))),
		"bad tags":         c.LogMetricCtx(ctx, id, "m", 1, 42),
		"bad option":       func() error { _, err := c.CreateSessionCtx(ctx, WithHeartbeatTimeout(-time.Second)); return err }(),
	} {
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &api) || api.Status != 422 {
			t.Errorf("%s: want a 422 *APIError, got %v", name, err)
		} else if _, ok := api.Detail.([]interface{}); !ok {
			t.Errorf("%s: 422 detail %#v", name, api.Detail)
		}
	}
	s, err := c.GetSession(id)
	must(t, err)
	if len(s.Events) != 0 || len(s.Metrics) != 0 || !s.Active {
		t.Fatalf("a rejected request wrote something: %+v", s)
	}
	// Connection refused: a TransportError.
	dead := NewClient("http://127.0.0.1:1")
	var tr *TransportError
	if _, err := dead.CreateSession(); !errors.As(err, &tr) {
		t.Fatalf("no server: %v", err)
	}
}

func TestIntegrationBatch(t *testing.T) {
	c := NewClient(serverURL(t))
	ctx := ctxT(t)
	id, err := c.CreateSession()
	must(t, err)
	ev := EventItem(id, "batched", map[string]interface{}{"n": 1})
	ev.ID = "b-ev-1"
	items := []BatchItem{
		StateItem(id, map[string]interface{}{"phase": "batch"}),
		ev,
		MetricItem(id, "bm", 2.5, []string{"a"}),
		HeartbeatItem(id, time.Minute),
	}
	res, err := c.Batch(ctx, items)
	must(t, err)
	if res.Status != "ok" || res.Accepted != 4 || res.Duplicates != 0 {
		t.Fatalf("batch: %+v", res)
	}
	res, err = c.Batch(ctx, []BatchItem{ev})
	must(t, err)
	if res.Duplicates != 1 {
		t.Fatalf("resend: %+v", res)
	}
	// One bad item refuses the whole batch, naming its index.
	_, err = c.Batch(ctx, []BatchItem{EventItem(id, "fine", nil), EventItem("00000000-0000-7000-8000-000000000000", "x", nil)})
	var api *APIError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &api) {
		t.Fatalf("bad batch: %v", err)
	}
	if bad := badIndexes(api.Detail, 2); !bad[1] || bad[0] {
		t.Fatalf("422 detail indexes: %#v", api.Detail)
	}
	res, err = c.Batch(ctx, []BatchItem{EndItem(id, StatusEnded)})
	must(t, err)
	s, err := c.GetSession(id)
	must(t, err)
	if s.State["phase"] != "batch" || len(s.Events) != 1 || len(s.Metrics) != 1 || s.Status != "ended" ||
		s.HeartbeatTimeout == nil || *s.HeartbeatTimeout != 60 {
		t.Fatalf("after batches: %+v (%+v)", s, res)
	}
}

// lossyProxy forwards to the real server; it drops the answers of the first `lose` batch
// requests after the server has stored them (a 502 instead), and refuses `down` more
// without forwarding (a 503), as a flaky network and a restarting server would.
type lossyProxy struct {
	mu         sync.Mutex
	lose, down int
	batches    int
}

func (p *lossyProxy) start(t *testing.T, target string) string {
	u, err := url.Parse(target)
	must(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		isBatch := r.URL.Path == "/api/batch"
		lose, down := false, false
		if isBatch {
			p.batches++
			if p.lose > 0 {
				p.lose--
				lose = true
			} else if p.down > 0 {
				p.down--
				down = true
			}
		}
		p.mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, u.String()+r.URL.RequestURI(), strings.NewReader(string(body)))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if lose {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestIntegrationBatchSessionExactlyOnceOnResend(t *testing.T) {
	base := serverURL(t)
	proxy := &lossyProxy{lose: 2, down: 2}
	c := NewClient(proxy.start(t, base))
	cfg := BatchConfig{FlushInterval: 20 * time.Millisecond, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	s, err := c.StartSession(ctxT(t), WithProduct("go-exactly-once"), WithBatchConfig(cfg))
	must(t, err)
	const n = 3000
	must(t, s.LogEvent("tick", map[string]interface{}{"i": -1}))
	must(t, s.UpdateState(map[string]interface{}{"counter": map[string]interface{}{"a": 1}}))
	for i := 0; i < n; i++ {
		must(t, s.LogMetric("x", float64(i), []string{"k:v"}))
		if i%100 == 0 {
			must(t, s.LogEvent("tick", map[string]interface{}{"i": i}))
		}
	}
	must(t, s.UpdateState(map[string]interface{}{"counter": map[string]interface{}{"b": 2}}))
	must(t, s.End(ctxT(t)))

	stats := s.Stats()
	if stats.Dropped != 0 || stats.Duplicates == 0 || len(s.Errors()) != 0 {
		t.Fatalf("stats %+v errors %v", stats, s.Errors())
	}
	proxy.mu.Lock()
	batches := proxy.batches
	proxy.mu.Unlock()
	if batches < 5 {
		t.Fatalf("only %d batch requests: the lossy proxy was not exercised", batches)
	}
	got, err := NewClient(base).GetSession(s.ID())
	must(t, err)
	if len(got.Metrics) != n || len(got.Events) != n/100+1 {
		t.Fatalf("stored %d metrics and %d events, want %d and %d", len(got.Metrics), len(got.Events), n, n/100+1)
	}
	seen := make([]bool, n)
	for _, m := range got.Metrics {
		i := int(m.Value)
		if seen[i] {
			t.Fatalf("metric %d stored twice", i)
		}
		seen[i] = true
	}
	counter := got.State["counter"].(map[string]interface{})
	if counter["a"] != 1.0 || counter["b"] != 2.0 || got.Status != "ended" {
		t.Fatalf("state %v status %s", got.State, got.Status)
	}
}

func TestIntegrationBatchSessionUnknownSessionDropsNotRetries(t *testing.T) {
	c := NewClient(serverURL(t))
	s := c.AttachSession("00000000-0000-7000-8000-000000000000", BatchConfig{FlushInterval: 10 * time.Millisecond})
	must(t, s.LogEvent("e", nil))
	must(t, s.LogMetric("m", 1, nil))
	err := s.Flush(ctxT(t))
	var de *DeliveryError
	if !errors.As(err, &de) || de.Count != 2 || !errors.Is(err, ErrInvalid) {
		t.Fatalf("flush: %v", err)
	}
	must(t, s.Close(ctxT(t)))
	if st := s.Stats(); st.Dropped != 2 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestIntegrationMonitor(t *testing.T) {
	c := NewClient(serverURL(t))
	ctx := ctxT(t)
	s, err := c.StartSession(ctx, WithBatchConfig(BatchConfig{FlushInterval: 10 * time.Millisecond}))
	must(t, err)
	m := s.StartMonitor(MonitorConfig{Timeout: 200 * time.Millisecond, CheckInterval: 25 * time.Millisecond, KeepaliveTimeout: 40 * time.Second})
	status := func() string {
		got, err := c.GetSession(s.ID())
		must(t, err)
		return got.Status
	}
	for i := 0; i < 5; i++ {
		s.Heartbeat()
		time.Sleep(25 * time.Millisecond)
	}
	if st := status(); st != "active" {
		t.Fatalf("status while beating: %s", st)
	}
	waitFor(t, 10*time.Second, func() bool { return status() == "hung" }, "never hung")
	time.Sleep(150 * time.Millisecond)
	s.Heartbeat()
	must(t, s.Flush(ctx))
	got, err := c.GetSession(s.ID())
	must(t, err)
	if got.Status != "active" || got.HeartbeatTimeout == nil || *got.HeartbeatTimeout != 40 {
		t.Fatalf("after recovery: status %s heartbeat_timeout %v", got.Status, got.HeartbeatTimeout)
	}
	names := []string{}
	for _, e := range got.Events {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != HungEvent+","+RecoveredEvent {
		t.Fatalf("events %v", names)
	}
	hung := got.Events[0].Data.(map[string]interface{})
	if hung["timeout"] != 0.2 || hung["seconds_since_heartbeat"].(float64) < 0.2 {
		t.Fatalf("hung data %v", hung)
	}
	must(t, s.End(ctx))
	if m.Running() {
		t.Fatal("End did not stop the monitor")
	}
	if st := status(); st != "ended" {
		t.Fatalf("status after End: %s", st)
	}

	// The direct-call monitor (no BatchSession).
	id, err := c.CreateSession()
	must(t, err)
	dm := c.StartMonitor(id, MonitorConfig{Timeout: 100 * time.Millisecond, CheckInterval: 20 * time.Millisecond})
	waitFor(t, 10*time.Second, func() bool {
		got, err := c.GetSession(id)
		must(t, err)
		return got.Status == "hung"
	}, "direct monitor never hung")
	dm.Heartbeat()
	dm.Stop()
	got, err = c.GetSession(id)
	must(t, err)
	if got.Status != "active" || len(got.Events) != 2 || got.Events[1].Name != RecoveredEvent {
		t.Fatalf("direct monitor: %s %+v", got.Status, got.Events)
	}
	must(t, c.EndSession(id))
}

func TestIntegrationOriginalErrorsStillPlainErrors(t *testing.T) {
	// Programs written for the original only check err != nil; make sure that works
	// with the original's method set on a live server after an end.
	c := NewClient(serverURL(t))
	id, err := c.CreateSession()
	must(t, err)
	must(t, c.EndSession(id))
	// Writes after end are accepted and stored (late batches are not lost).
	must(t, c.LogEvent(id, "late", nil))
	s, err := c.GetSession(id)
	must(t, err)
	if s.Active || len(s.Events) != 1 {
		t.Fatalf("late write: %+v", s)
	}
}
