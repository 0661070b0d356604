package client

// Pre-aggregated histograms from every Go entry point, read back from a real server
// (DATACAT_TEST_URL): the stored value is the mean, and the series' percentiles
// interpolate within the buckets.

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// seriesValue is GET /api/metrics/series?aggregation=...: the one session's value.
func seriesValue(t *testing.T, base, sessionID, name, aggregation string) float64 {
	t.Helper()
	q := url.Values{"name": {name}, "aggregation": {aggregation}, "session_id": {sessionID}}
	resp, err := http.Get(base + "/api/metrics/series?" + q.Encode())
	must(t, err)
	defer resp.Body.Close()
	var out struct {
		Points []struct {
			Value float64 `json:"value"`
		} `json:"points"`
	}
	must(t, json.NewDecoder(resp.Body).Decode(&out))
	if resp.StatusCode != http.StatusOK || len(out.Points) != 1 {
		t.Fatalf("%s %s: HTTP %d, points %+v", name, aggregation, resp.StatusCode, out.Points)
	}
	return out.Points[0].Value
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestIntegrationHistogram(t *testing.T) {
	base := serverURL(t)
	c := NewClient(base)
	s, err := c.StartSession(ctxT(t), WithProduct("go-histogram"),
		WithBatchConfig(BatchConfig{FlushInterval: 20 * time.Millisecond}))
	must(t, err)
	id := s.ID()
	must(t, c.LogHistogram(ctxT(t), id, "direct_ms", frameBuckets, 12345.6, []string{"a"}, WithUnit("ms")))
	_, err = c.Batch(ctxT(t), []BatchItem{HistogramItem(id, "batch_ms", frameBuckets, 12345.6, nil)})
	must(t, err)
	must(t, s.Histogram("queued_ms", frameBuckets, 12345.6, nil, WithUnit("ms")))
	must(t, s.Histogram("idle_ms", []Bucket{{LE: 1, Count: 0}, {LE: math.Inf(1), Count: 0}}, 0, nil))
	must(t, s.End(ctxT(t)))
	if len(s.Errors()) != 0 {
		t.Fatalf("errors %v", s.Errors())
	}

	got, err := c.GetSession(id)
	must(t, err)
	metrics, _ := byName(got)
	for name, unit := range map[string]string{"direct_ms": "ms", "batch_ms": "", "queued_ms": "ms"} {
		m := metrics[name]
		if len(m) != 1 || m[0].Kind != KindHistogram || m[0].Unit != unit || !near(m[0].Value, 12.3456) {
			t.Fatalf("%s: %+v, want one histogram of mean 12.3456 unit %q", name, m, unit)
		}
		// Ranks 500 and 900 of 1000 lie in (0, 16.7] (950 observations); rank 990 ends
		// (16.7, 33.3]; the weights are the buckets', not one point at the mean.
		for aggregation, want := range map[string]float64{
			"p50": 16.7 * 500 / 950, "p90": 16.7 * 900 / 950, "p99": 33.3, "count": 1000,
		} {
			if v := seriesValue(t, base, id, name, aggregation); !near(v, want) {
				t.Fatalf("%s %s = %v, want %v", name, aggregation, v, want)
			}
		}
	}
	if m := metrics["idle_ms"]; len(m) != 1 || m[0].Kind != KindHistogram || m[0].Value != 0 {
		t.Fatalf("idle_ms %+v", m)
	}
}
