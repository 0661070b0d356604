package client

// Issue 12's optional fields (metric kind/unit, event level/message/category/labels) from
// every Go entry point, read back from a real server (DATACAT_TEST_URL).

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func byName(s *Session) (map[string][]Metric, map[string][]Event) {
	metrics, events := map[string][]Metric{}, map[string][]Event{}
	for _, m := range s.Metrics {
		metrics[m.Name] = append(metrics[m.Name], m)
	}
	for _, e := range s.Events {
		events[e.Name] = append(events[e.Name], e)
	}
	return metrics, events
}

func TestIntegrationKindsDirectAndBatch(t *testing.T) {
	c := NewClient(serverURL(t))
	id, err := c.CreateSession()
	must(t, err)
	must(t, c.LogMetric(id, "plain", 1, nil)) // the original call: a gauge, no unit
	must(t, c.LogMetricCtx(ctxT(t), id, "load", 12.5, nil, WithKind(KindTimer), WithUnit("ms")))
	must(t, c.LogEventCtx(ctxT(t), id, "deploy", map[string]interface{}{"v": 2},
		WithLevel(LevelWarning), WithMessage("rolled back"), WithCategory("ops"), WithLabels("eu", "blue")))
	must(t, c.LogEvent(id, "seed", nil))
	item := MetricItem(id, "hist", 3, nil)
	item.Kind, item.Unit = KindHistogram, "kB"
	ev := EventItem(id, "batched", nil)
	ev.Level, ev.Message = LevelError, "boom"
	_, err = c.Batch(ctxT(t), []BatchItem{item, ev})
	must(t, err)

	s, err := c.GetSession(id)
	must(t, err)
	metrics, events := byName(s)
	check := func(name, kind, unit string) {
		t.Helper()
		if m := metrics[name]; len(m) != 1 || m[0].Kind != kind || m[0].Unit != unit {
			t.Fatalf("%s: %+v, want kind %q unit %q", name, m, kind, unit)
		}
	}
	check("plain", KindGauge, "")
	check("load", KindTimer, "ms")
	check("hist", KindHistogram, "kB")
	d := events["deploy"][0]
	if d.Level != LevelWarning || d.Message != "rolled back" || d.Category != "ops" ||
		!reflect.DeepEqual(d.Labels, []string{"eu", "blue"}) {
		t.Fatalf("deploy: %+v", d)
	}
	if e := events["seed"][0]; e.Level != LevelInfo || e.Message != "" || e.Labels != nil {
		t.Fatalf("seed: %+v", e)
	}
	if e := events["batched"][0]; e.Level != LevelError || e.Message != "boom" {
		t.Fatalf("batched: %+v", e)
	}
	err = c.LogMetricCtx(ctxT(t), id, "bad", 1, nil, WithKind("meter"))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("kind meter: %v", err)
	}
}

func TestIntegrationKindsBatchSession(t *testing.T) {
	c := NewClient(serverURL(t))
	cfg := BatchConfig{FlushInterval: 20 * time.Millisecond}
	s, err := c.StartSession(ctxT(t), WithProduct("go-kinds"), WithBatchConfig(cfg))
	must(t, err)
	must(t, s.LogMetric("plain", 1, nil))
	must(t, s.LogMetric("mem", 2048, []string{"a"}, WithUnit("bytes")))
	must(t, s.Counter("requests", 1, nil))
	must(t, s.Counter("requests", 3, nil, WithUnit("req")))
	must(t, s.Observe("size", 12.5, nil, WithUnit("kB")))
	stop := s.Timer("block", nil)
	time.Sleep(5 * time.Millisecond)
	must(t, stop())
	must(t, s.LogEvent("deploy", nil, WithLevel(LevelCritical), WithMessage("m"), WithCategory("c"), WithLabels("x")))
	must(t, s.LogEvent("seed", map[string]interface{}{"k": 1}))
	if err := s.LogMetric("bad", 1, nil, WithKind("meter")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("kind meter: %v", err)
	}
	if err := s.LogEvent("bad", nil, WithLevel("fatal")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("level fatal: %v", err)
	}
	must(t, s.End(ctxT(t)))
	if len(s.Errors()) != 0 {
		t.Fatalf("errors %v", s.Errors())
	}

	got, err := c.GetSession(s.ID())
	must(t, err)
	metrics, events := byName(got)
	if m := metrics["plain"][0]; m.Kind != KindGauge || m.Unit != "" {
		t.Fatalf("plain %+v", m)
	}
	if m := metrics["mem"][0]; m.Kind != KindGauge || m.Unit != "bytes" {
		t.Fatalf("mem %+v", m)
	}
	if r := metrics["requests"]; len(r) != 2 || r[0].Kind != KindCounter || r[1].Kind != KindCounter ||
		r[0].Value+r[1].Value != 4 {
		t.Fatalf("requests %+v", r)
	}
	if m := metrics["size"][0]; m.Kind != KindHistogram || m.Unit != "kB" || m.Value != 12.5 {
		t.Fatalf("size %+v", m)
	}
	if m := metrics["block"][0]; m.Kind != KindTimer || m.Unit != "ms" || m.Value < 5 || m.Value > 60000 {
		t.Fatalf("block %+v", m)
	}
	if _, ok := metrics["bad"]; ok {
		t.Fatalf("a refused metric was stored")
	}
	d := events["deploy"][0]
	if d.Level != LevelCritical || d.Message != "m" || d.Category != "c" || !reflect.DeepEqual(d.Labels, []string{"x"}) {
		t.Fatalf("deploy %+v", d)
	}
	if e := events["seed"][0]; e.Level != LevelInfo {
		t.Fatalf("seed %+v", e)
	}
}

func TestIntegrationKindsMonitorLevels(t *testing.T) {
	c := NewClient(serverURL(t))
	s, err := c.StartSession(ctxT(t), WithBatchConfig(BatchConfig{FlushInterval: 20 * time.Millisecond}))
	must(t, err)
	m := s.StartMonitor(MonitorConfig{Timeout: 100 * time.Millisecond, CheckInterval: 20 * time.Millisecond})
	deadline := time.Now().Add(20 * time.Second)
	for !m.Hung() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.Heartbeat()
	must(t, s.End(ctxT(t)))
	got, err := c.GetSession(s.ID())
	must(t, err)
	_, events := byName(got)
	hung, recovered := events[HungEvent], events[RecoveredEvent]
	if len(hung) != 1 || hung[0].Level != LevelWarning || len(recovered) != 1 || recovered[0].Level != LevelInfo {
		t.Fatalf("hung %+v recovered %+v", hung, recovered)
	}
}
