package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"
)

// store is a fake /api/batch that keeps items by client id, as the server does.
type store struct {
	mu    sync.Mutex
	ids   map[string]bool
	items []map[string]interface{}
}

func (s *store) add(items []interface{}) (accepted, duplicates int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]bool{}
	}
	for _, it := range items {
		m := it.(map[string]interface{})
		if id, ok := m["id"].(string); ok {
			if s.ids[id] {
				duplicates++
				continue
			}
			s.ids[id] = true
		}
		s.items = append(s.items, m)
		accepted++
	}
	return accepted + duplicates, duplicates
}

func (s *store) all() []map[string]interface{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]interface{}(nil), s.items...)
}

func answerBatch(w http.ResponseWriter, st *store, r recorded) {
	items, _ := r.Body["items"].([]interface{})
	accepted, dups := st.add(items)
	_ = json.NewEncoder(w).Encode(map[string]interface{}{"status": "ok", "accepted": accepted, "duplicates": dups})
}

func quick() BatchConfig {
	return BatchConfig{FlushInterval: 10 * time.Millisecond, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestBatchSessionDeliversInOrderWithIdsAndTimestamps(t *testing.T) {
	st := &store{}
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) {
		if r.Path == "/api/batch" {
			answerBatch(w, st, r)
			return
		}
		writeOK(w, r)
	})
	c := NewClient(f.URL)
	s, err := c.StartSession(ctxT(t), WithProduct("p"), WithBatchConfig(quick()))
	must(t, err)
	if s.ID() != "s-1" || s.Client() != c {
		t.Fatalf("session %q", s.ID())
	}
	before := time.Now().Add(-time.Second)
	must(t, s.UpdateState(map[string]interface{}{"phase": "init"}))
	for i := 0; i < 100; i++ {
		must(t, s.LogMetric("m", float64(i), []string{"k:v"}))
	}
	must(t, s.LogEvent("done", map[string]interface{}{"n": 100}))
	must(t, s.LogEvent("bare", nil))
	must(t, s.Flush(ctxT(t)))
	must(t, s.End(ctxT(t)))

	if first := f.seen()[0]; first.Path != "/api/sessions" || first.Raw != `{"product":"p"}` {
		t.Fatalf("create: %+v", first)
	}
	items := st.all()
	if len(items) != 104 {
		t.Fatalf("stored %d items, want 104", len(items))
	}
	if items[0]["op"] != "state" || items[101]["op"] != "event" || items[103]["op"] != "end" || items[103]["status"] != "ended" {
		t.Fatalf("order: %v ... %v", items[0], items[103])
	}
	if items[102]["data"] != nil {
		t.Fatalf("bare event data: %v", items[102])
	}
	ids := map[string]bool{}
	var last time.Time
	for i, it := range items[:103] {
		id, _ := it["id"].(string)
		if id == "" || len(id) > 64 || ids[id] {
			t.Fatalf("item %d id %q", i, id)
		}
		ids[id] = true
		if it["session_id"] != "s-1" {
			t.Fatalf("item %d session %v", i, it["session_id"])
		}
		ts, err := time.Parse(time.RFC3339Nano, it["timestamp"].(string))
		must(t, err)
		if ts.Before(before) || ts.Before(last) {
			t.Fatalf("item %d timestamp %v", i, ts)
		}
		last = ts
	}
	if items[50]["value"].(float64) != 49 {
		t.Fatalf("metric value: %v", items[50])
	}
	stats := s.Stats()
	if stats.Delivered != 104 || stats.Dropped != 0 || stats.Queued != 0 {
		t.Fatalf("stats %+v", stats)
	}
	if err := s.LogEvent("late", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after End: %v", err)
	}
	must(t, s.End(ctxT(t))) // a second End does nothing
}

func TestBatchSessionResendAfterLostAnswerIsStoredOnce(t *testing.T) {
	st := &store{}
	var bodies []string
	var mu sync.Mutex
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) {
		if r.Path != "/api/batch" {
			writeOK(w, r)
			return
		}
		mu.Lock()
		bodies = append(bodies, r.Raw)
		attempt := len(bodies)
		mu.Unlock()
		switch attempt {
		case 1: // stored, but the answer is lost
			items, _ := r.Body["items"].([]interface{})
			st.add(items)
			w.WriteHeader(http.StatusBadGateway)
		case 2: // not stored, server unavailable
			w.Header().Set("Retry-After", "0.01")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			answerBatch(w, st, r)
		}
	})
	c := NewClient(f.URL)
	cfg := quick()
	cfg.FlushInterval = time.Hour // one batch, sent by Flush
	s := c.AttachSession("s-1", cfg)
	for i := 0; i < 50; i++ {
		must(t, s.LogEvent("e", i))
	}
	must(t, s.Flush(ctxT(t)))
	mu.Lock()
	if len(bodies) != 3 || bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Fatalf("%d attempts; resends must be byte-identical", len(bodies))
	}
	mu.Unlock()
	if n := len(st.all()); n != 50 {
		t.Fatalf("stored %d, want 50", n)
	}
	stats := s.Stats()
	if stats.Delivered != 50 || stats.Duplicates != 50 || stats.Dropped != 0 {
		t.Fatalf("stats %+v", stats)
	}
	must(t, s.Close(ctxT(t)))
}

func TestBatchSessionDrops422ItemsAndNever4xxRetries(t *testing.T) {
	st := &store{}
	var batches int
	var mu sync.Mutex
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) {
		if r.Path != "/api/batch" {
			writeOK(w, r)
			return
		}
		mu.Lock()
		batches++
		mu.Unlock()
		items, _ := r.Body["items"].([]interface{})
		var detail []interface{}
		for i, it := range items {
			switch it.(map[string]interface{})["name"] {
			case "bad":
				detail = append(detail, map[string]interface{}{"index": i, "loc": []interface{}{"body", "items", i, "name"}, "msg": "bad"})
			case "forbidden":
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"detail":"no"}`)
				return
			}
		}
		if detail != nil {
			w.WriteHeader(422)
			_ = json.NewEncoder(w).Encode(map[string]interface{}{"detail": detail})
			return
		}
		answerBatch(w, st, r)
	})
	c := NewClient(f.URL)
	var mu2 sync.Mutex
	var reported []error
	cfg := quick()
	cfg.FlushInterval = time.Hour // each Flush sends one batch
	cfg.OnError = func(err error) { mu2.Lock(); reported = append(reported, err); mu2.Unlock() }
	s := c.AttachSession("s-1", cfg)
	must(t, s.LogEvent("ok", 1))
	must(t, s.LogEvent("bad", 2))
	must(t, s.LogEvent("ok", 3))
	err := s.Flush(ctxT(t))
	var de *DeliveryError
	if !errors.As(err, &de) || de.Count != 1 || !errors.Is(err, ErrInvalid) {
		t.Fatalf("flush after a refused item: %v", err)
	}
	if got := st.all(); len(got) != 2 || got[0]["data"].(float64) != 1 || got[1]["data"].(float64) != 3 {
		t.Fatalf("stored %v", got)
	}
	mu.Lock()
	if batches != 2 {
		t.Fatalf("%d requests, want 2 (refused, then the rest)", batches)
	}
	batches = 0
	mu.Unlock()

	must(t, s.LogEvent("forbidden", nil))
	must(t, s.LogEvent("ok", 4))
	err = s.Flush(ctxT(t))
	var api *APIError
	if !errors.As(err, &api) || api.Status != 400 {
		t.Fatalf("400: %v", err)
	}
	mu.Lock()
	if batches != 1 {
		t.Fatalf("a 400 was retried: %d requests", batches)
	}
	mu.Unlock()
	stats := s.Stats()
	if stats.Dropped != 3 || stats.Delivered != 2 || len(s.Errors()) != 2 {
		t.Fatalf("stats %+v errors %v", stats, s.Errors())
	}
	mu2.Lock()
	if len(reported) != 2 {
		t.Fatalf("OnError calls: %v", reported)
	}
	mu2.Unlock()
	must(t, s.Close(ctxT(t)))
}

func TestBatchSession413SplitsAndChunking(t *testing.T) {
	st := &store{}
	var sizes []int
	var mu sync.Mutex
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) {
		items, _ := r.Body["items"].([]interface{})
		mu.Lock()
		sizes = append(sizes, len(items))
		mu.Unlock()
		if len(items) > 4 {
			w.WriteHeader(413)
			_, _ = io.WriteString(w, `{"detail":"too large"}`)
			return
		}
		answerBatch(w, st, r)
	})
	cfg := quick()
	cfg.FlushInterval = time.Hour
	cfg.MaxBatchItems = 10
	s := NewClient(f.URL).AttachSession("s-1", cfg)
	for i := 0; i < 20; i++ {
		must(t, s.LogMetric("m", float64(i), nil))
	}
	must(t, s.Flush(ctxT(t)))
	if n := len(st.all()); n != 20 {
		t.Fatalf("stored %d", n)
	}
	for i, it := range st.all() {
		if it["value"].(float64) != float64(i) {
			t.Fatalf("order broken at %d: %v", i, it)
		}
	}
	mu.Lock()
	if sizes[0] != 10 {
		t.Fatalf("first request %d items, want 10 (MaxBatchItems)", sizes[0])
	}
	mu.Unlock()
	must(t, s.Close(ctxT(t)))
}

func TestBatchSessionOverflow(t *testing.T) {
	st := &store{}
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) { answerBatch(w, st, r) })
	c := NewClient(f.URL)

	cfg := BatchConfig{FlushInterval: time.Hour, FlushAt: 1000, MaxQueue: 10}
	s := c.AttachSession("s-1", cfg)
	for i := 0; i < 15; i++ {
		must(t, s.LogMetric("m", float64(i), nil))
	}
	if stats := s.Stats(); stats.Queued != 10 || stats.Dropped != 5 {
		t.Fatalf("drop oldest: %+v", stats)
	}
	must(t, s.Flush(ctxT(t)))
	if got := st.all(); len(got) != 10 || got[0]["value"].(float64) != 5 {
		t.Fatalf("kept the newest: %v", got)
	}
	must(t, s.Close(ctxT(t)))

	cfg.Overflow = DropNewest
	s = c.AttachSession("s-2", cfg)
	for i := 0; i < 10; i++ {
		must(t, s.LogMetric("m", 1, nil))
	}
	if err := s.LogMetric("m", 1, nil); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("drop newest: %v", err)
	}
	must(t, s.Close(ctxT(t)))

	cfg.Overflow = Block
	cfg.FlushAt = 5
	cfg.MaxQueue = 5
	s = c.AttachSession("s-3", cfg)
	for i := 0; i < 50; i++ { // blocks until the worker makes room; nothing lost
		must(t, s.LogMetric("m", 1, nil))
	}
	must(t, s.Flush(ctxT(t)))
	if stats := s.Stats(); stats.Delivered != 50 || stats.Dropped != 0 {
		t.Fatalf("block: %+v", stats)
	}
	must(t, s.Close(ctxT(t)))
}

func TestBatchSessionRefusesBadArguments(t *testing.T) {
	f := newFake(t, nil)
	s := NewClient(f.URL).AttachSession("s-1", quick())
	defer func() { must(t, s.Close(ctxT(t))) }()
	for name, err := range map[string]error{
		"nan":        s.LogMetric("m", math.NaN(), nil),
		"inf":        s.LogMetric("m", math.Inf(1), nil),
		"empty name": s.LogEvent("", nil),
		"chan data":  s.LogEvent("e", make(chan int)),
		"bad tags":   s.LogMetric("m", 1, func() {}),
		"bad state":  s.UpdateState(map[string]interface{}{"f": math.NaN()}),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if s.Stats().Queued != 0 {
		t.Fatal("refused items were queued")
	}
}

func TestBatchSessionEndWhileServerDownGivesUpAtDeadline(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) { w.WriteHeader(503) })
	s := NewClient(f.URL).AttachSession("s-1", quick())
	must(t, s.LogEvent("e", nil))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.End(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("End: %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("End took %v", time.Since(start))
	}
	if stats := s.Stats(); stats.Dropped != 2 || stats.Delivered != 0 {
		t.Fatalf("stats %+v", stats)
	}
}

func TestBatchSessionFlushAtWakesWorker(t *testing.T) {
	st := &store{}
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) { answerBatch(w, st, r) })
	cfg := BatchConfig{FlushInterval: time.Hour, FlushAt: 10}
	s := NewClient(f.URL).AttachSession("s-1", cfg)
	for i := 0; i < 10; i++ {
		must(t, s.LogEvent("e", i))
	}
	waitFor(t, 5*time.Second, func() bool { return len(st.all()) == 10 }, "FlushAt did not send")
	must(t, s.Close(ctxT(t)))
}

func TestLoggingCallIsCheap(t *testing.T) {
	st := &store{}
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) { answerBatch(w, st, r) })
	s := NewClient(f.URL).AttachSession("s-1", BatchConfig{})
	const n = 20000
	tags := []string{"worker:1"}
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := s.LogMetric("latency_ms", float64(i), tags); err != nil {
			t.Fatal(err)
		}
	}
	perCall := time.Since(start) / n
	must(t, s.End(ctxT(t)))
	if len(st.all()) != n+1 {
		t.Fatalf("stored %d, want %d", len(st.all()), n+1)
	}
	t.Logf("LogMetric: %v per call", perCall)
	// Microseconds, never a round trip; generous for a loaded CI machine (-race included).
	if perCall > 100*time.Microsecond {
		t.Fatalf("LogMetric took %v per call", perCall)
	}
}

func BenchmarkLogMetric(b *testing.B) {
	st := &store{}
	f := newFake(b, func(w http.ResponseWriter, r recorded, n int) { answerBatch(w, st, r) })
	s := NewClient(f.URL).AttachSession("s-1", BatchConfig{MaxQueue: 1 << 30})
	tags := []string{"worker:1"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = s.LogMetric("latency_ms", float64(i), tags)
	}
	b.StopTimer()
	_ = s.End(context.Background())
}

func waitFor(t *testing.T, limit time.Duration, ok func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
