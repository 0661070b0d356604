package client

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// frameBuckets is the README's frame-time histogram: 1000 observations, mean 12.3456.
var frameBuckets = []Bucket{{LE: 16.7, Count: 950}, {LE: 33.3, Count: 40}, {LE: math.Inf(1), Count: 10}}

// wantHistogram is frameBuckets as the server expects them (JSON-decoded).
func wantHistogram(t *testing.T, body map[string]interface{}) {
	t.Helper()
	wantBuckets := []interface{}{
		map[string]interface{}{"le": 16.7, "count": 950.0},
		map[string]interface{}{"le": 33.3, "count": 40.0},
		map[string]interface{}{"le": nil, "count": 10.0},
	}
	if !reflect.DeepEqual(body["buckets"], wantBuckets) {
		t.Fatalf("buckets %v", body["buckets"])
	}
	if body["kind"] != KindHistogram || body["sum"] != 12345.6 || body["count"] != 1000.0 ||
		math.Abs(body["value"].(float64)-12.3456) > 1e-9 {
		t.Fatalf("histogram body %v", body)
	}
}

func TestHistogramWireForm(t *testing.T) {
	f := newFake(t, nil)
	c := NewClient(f.URL)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	must(t, c.LogHistogram(ctxT(t), "s-1", "frame_ms", frameBuckets, 12345.6, []string{"scene:intro"},
		WithUnit("ms"), WithClientID("h-1"), WithTimestamp(at), WithKind(KindGauge)))
	_, err := c.Batch(ctxT(t), []BatchItem{HistogramItem("s-1", "frame_ms", frameBuckets, 12345.6, nil)})
	must(t, err)
	s := c.AttachSession("s-1", quick())
	must(t, s.Histogram("frame_ms", frameBuckets, 12345.6, nil, WithUnit("ms")))
	must(t, s.Histogram("idle_ms", []Bucket{{LE: 1, Count: 0}}, 0, nil))
	must(t, s.End(ctxT(t)))

	seen := f.seen()
	direct := seen[0]
	if direct.Path != "/api/sessions/s-1/metrics" {
		t.Fatalf("path %s", direct.Path)
	}
	wantHistogram(t, direct.Body) // WithKind cannot make a histogram anything else
	if direct.Body["unit"] != "ms" || direct.Body["id"] != "h-1" ||
		direct.Body["timestamp"] != "2026-01-02T03:04:05.000000Z" ||
		!reflect.DeepEqual(direct.Body["tags"], []interface{}{"scene:intro"}) {
		t.Fatalf("direct body %v", direct.Body)
	}
	batched := seen[1].Body["items"].([]interface{})[0].(map[string]interface{})
	wantHistogram(t, batched)
	if batched["op"] != OpMetric || batched["session_id"] != "s-1" {
		t.Fatalf("batch item %v", batched)
	}
	queued := seen[2].Body["items"].([]interface{})
	first := queued[0].(map[string]interface{})
	wantHistogram(t, first)
	if first["unit"] != "ms" || !strings.Contains(first["id"].(string), ".") || first["timestamp"] == "" {
		t.Fatalf("queued item %v", first)
	}
	empty := queued[1].(map[string]interface{})
	if empty["value"] != 0.0 || empty["count"] != 0.0 || empty["sum"] != 0.0 {
		t.Fatalf("empty histogram %v", empty) // its mean is 0, as the server stores it
	}
	plain := MetricItem("s-1", "cpu", 1, nil)
	raw, err := plain.MarshalJSON()
	must(t, err)
	if strings.Contains(string(raw), "buckets") || strings.Contains(string(raw), "sum") {
		t.Fatalf("a plain metric carries histogram fields: %s", raw)
	}
}

func TestHistogramRefusedBeforeSending(t *testing.T) {
	inf := math.Inf(1)
	cases := []struct {
		name    string
		buckets []Bucket
		sum     float64
		reason  string
	}{
		{"none", nil, 0, "1..64 buckets, got 0"},
		{"too many", make([]Bucket, MaxBuckets+1), 0, "1..64 buckets, got 65"},
		{"inf not last", []Bucket{{LE: inf, Count: 1}, {LE: 2, Count: 1}}, 1, "only the last bucket may be +Inf"},
		{"decreasing", []Bucket{{LE: 2, Count: 1}, {LE: 1, Count: 1}}, 1, "strictly increase"},
		{"repeated", []Bucket{{LE: 1, Count: 1}, {LE: 1, Count: 1}}, 1, "strictly increase"},
		{"NaN le", []Bucket{{LE: math.NaN(), Count: 1}}, 1, "bucket 0: LE must be a number"},
		{"-Inf le", []Bucket{{LE: math.Inf(-1), Count: 1}}, 1, "bucket 0: LE must be a number"},
		{"huge count", []Bucket{{LE: 1, Count: MaxCount + 1}}, 1, "at most 2^53"},
		{"huge total", []Bucket{{LE: 1, Count: MaxCount}, {LE: 2, Count: 1}}, 1, "at most 2^53 observations in all"},
		{"NaN sum", []Bucket{{LE: 1, Count: 1}}, math.NaN(), "sum must be finite"},
		{"Inf sum", []Bucket{{LE: 1, Count: 1}}, inf, "sum must be finite"},
	}
	f := newFake(t, nil)
	c := NewClient(f.URL)
	s := c.AttachSession("s-1", quick())
	for _, tc := range cases {
		for face, err := range map[string]error{
			"direct": c.LogHistogram(ctxT(t), "s-1", "h", tc.buckets, tc.sum, nil),
			"queued": s.Histogram("h", tc.buckets, tc.sum, nil),
			"batch": func() error {
				_, err := c.Batch(ctxT(t), []BatchItem{HistogramItem("s-1", "h", tc.buckets, tc.sum, nil)})
				return err
			}(),
		} {
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.reason) ||
				!strings.Contains(err.Error(), `histogram "h"`) {
				t.Errorf("%s, %s: %v, want ErrInvalid saying %q", tc.name, face, err, tc.reason)
			}
		}
	}
	if err := s.Histogram("", frameBuckets, 1, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty name: %v", err)
	}
	must(t, s.Close(ctxT(t)))
	if seen := f.seen(); len(seen) != 0 {
		t.Fatalf("refused histograms reached the server: %+v", seen)
	}
	if st := s.Stats(); st.Delivered != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}
