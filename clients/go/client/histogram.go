package client

// Pre-aggregated histograms: a hot loop counts its observations into buckets and sends
// them as one metric, held here to the server's rules (datacat.histogram) before sending.

import (
	"context"
	"fmt"
	"math"
	"net/http"
)

// MaxBuckets is the most buckets a histogram may have (the server's limit).
const MaxBuckets = 64

// MaxCount is the largest observation count, per bucket and per histogram: 2^53, exact
// as a float64.
const MaxCount = 1 << 53

// Bucket is one bucket of a pre-aggregated histogram: Count observations in (the previous
// bucket's LE, LE] — its own count, not a running total. The lowest bucket starts at 0
// when its LE is positive. LE math.Inf(1) is the +Inf bucket (sent as "le": null), last
// only, as in Prometheus' client.
type Bucket struct {
	LE    float64
	Count uint64
}

// histogram is a checked histogram's body fields; embedded in a metric's wire form (a nil
// one adds nothing).
type histogram struct {
	Buckets []wireBucket `json:"buckets"`
	Sum     float64      `json:"sum"`
	Count   uint64       `json:"count"`
}

type wireBucket struct {
	LE    *float64 `json:"le"` // nil: +Inf
	Count uint64   `json:"count"`
}

// newHistogram checks buckets and sum against the server's rules: 1..MaxBuckets buckets,
// LE strictly increasing and never NaN or -Inf, +Inf only last, counts adding up to at
// most MaxCount, a finite sum.
func newHistogram(name string, buckets []Bucket, sum float64) (*histogram, error) {
	fail := func(format string, args ...interface{}) error {
		return invalid(fmt.Errorf("histogram %q: %s", name, fmt.Sprintf(format, args...)))
	}
	if len(buckets) == 0 || len(buckets) > MaxBuckets {
		return nil, fail("a histogram has 1..%d buckets, got %d", MaxBuckets, len(buckets))
	}
	if math.IsNaN(sum) || math.IsInf(sum, 0) {
		return nil, fail("sum must be finite, got %v", sum)
	}
	h := &histogram{Buckets: make([]wireBucket, len(buckets)), Sum: sum}
	for i, b := range buckets {
		switch {
		case math.IsNaN(b.LE) || math.IsInf(b.LE, -1):
			return nil, fail("bucket %d: LE must be a number or math.Inf(1), got %v", i, b.LE)
		case math.IsInf(b.LE, 1) && i != len(buckets)-1:
			return nil, fail("bucket %d: only the last bucket may be +Inf", i)
		case i > 0 && b.LE <= buckets[i-1].LE:
			return nil, fail("bucket %d: LE must strictly increase (%v after %v)", i, b.LE, buckets[i-1].LE)
		case b.Count > MaxCount:
			return nil, fail("bucket %d: at most 2^53 observations, got %d", i, b.Count)
		}
		h.Count += b.Count
		if !math.IsInf(b.LE, 1) {
			le := b.LE
			h.Buckets[i].LE = &le
		}
		h.Buckets[i].Count = b.Count
	}
	if h.Count > MaxCount {
		return nil, fail("at most 2^53 observations in all, got %d", h.Count)
	}
	return h, nil
}

// mean is what a histogram sends as its value: sum / count, 0 when empty (the server
// stores the same).
func (h *histogram) mean() float64 {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / float64(h.Count)
}

// LogHistogram sends many observations at once, pre-aggregated: buckets (each its own
// count, the last one's LE may be math.Inf(1)) and their sum, as one metric of kind
// histogram whose value is the mean; the observation count is the buckets' total. The
// server's percentiles interpolate within the buckets. tags is nil, a []string or a
// map[string]interface{}; opts may set the unit, client id and timestamp. Buckets that
// break the server's rules return ErrInvalid without sending.
func (c *Client) LogHistogram(ctx context.Context, id, name string, buckets []Bucket, sum float64, tags interface{}, opts ...WriteOption) error {
	h, err := newHistogram(name, buckets, sum)
	if err != nil {
		return err
	}
	m := applyWrite(opts)
	body := metricBody{
		Name: name, Value: h.mean(), Tags: tags, Timestamp: formatTime(m.Timestamp), ID: m.ID,
		Kind: KindHistogram, Unit: m.Unit, histogram: h,
	}
	return c.do(ctx, http.MethodPost, sessionPath(id, "/metrics"), body, nil)
}

// Histogram queues many observations at once, pre-aggregated (see Client.LogHistogram):
// a hot loop counts into buckets and sends one item per interval. Bad buckets return
// ErrInvalid at once; opts may set the unit.
func (s *BatchSession) Histogram(name string, buckets []Bucket, sum float64, tags interface{}, opts ...WriteOption) error {
	if err := checkName(name); err != nil {
		return err
	}
	h, err := newHistogram(name, buckets, sum)
	if err != nil {
		return err
	}
	raw, err := encodeTags(tags)
	if err != nil {
		return err
	}
	unit := applyWrite(opts).Unit
	return s.enqueue(entry{op: OpMetric, name: name, value: h.mean(), tags: raw, hist: h,
		extra: &fields{Kind: KindHistogram, Unit: unit}})
}

// HistogramItem logs a pre-aggregated histogram in a Batch (see Client.LogHistogram); the
// buckets are checked when the batch is encoded, and a bad one makes Batch return
// ErrInvalid without sending.
func HistogramItem(sessionID, name string, buckets []Bucket, sum float64, tags interface{}) BatchItem {
	if buckets == nil {
		buckets = []Bucket{} // still a histogram (refused as empty), not a plain metric
	}
	return BatchItem{Op: OpMetric, SessionID: sessionID, Name: name, Tags: tags, Kind: KindHistogram,
		Buckets: buckets, Sum: sum}
}
