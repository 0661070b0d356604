package client

import (
	"encoding/json"
	"fmt"
	"time"
)

// Session is a session as the server returns it: the original's fields (ID through
// Metrics) plus datacat's additions.
type Session struct {
	ID        string                 `json:"id"`
	CreatedAt time.Time              `json:"created_at"`
	UpdatedAt time.Time              `json:"updated_at"`
	EndedAt   *time.Time             `json:"ended_at"`
	Active    bool                   `json:"active"`
	State     map[string]interface{} `json:"state"`
	Events    []Event                `json:"events"`
	Metrics   []Metric               `json:"metrics"`

	// Status is one of "active", "ended", "hung", "crashed", "abandoned".
	Status     string                 `json:"status"`
	Product    string                 `json:"product"`
	Version    string                 `json:"version"`
	Host       string                 `json:"host"`
	LastSeenAt time.Time              `json:"last_seen_at"`
	Metadata   map[string]interface{} `json:"metadata"`
	// HeartbeatTimeout is the abandonment timeout in seconds, nil when none is armed.
	HeartbeatTimeout *float64 `json:"heartbeat_timeout"`
}

// Event is one logged event; Data is any JSON value (usually a map[string]interface{}).
type Event struct {
	Timestamp time.Time   `json:"timestamp"`
	Name      string      `json:"name"`
	Data      interface{} `json:"data"`

	// Level is one of the Level* constants ("info" when the writer gave none); Message,
	// Category and Labels are "" / nil when not given.
	Level    string   `json:"level"`
	Message  string   `json:"message"`
	Category string   `json:"category"`
	Labels   []string `json:"labels"`
}

// Metric is one logged metric value; Tags is nil, a []interface{} of strings, or a
// map[string]interface{}, as logged.
type Metric struct {
	Timestamp time.Time   `json:"timestamp"`
	Name      string      `json:"name"`
	Value     float64     `json:"value"`
	Tags      interface{} `json:"tags"`

	// Kind is one of the Kind* constants ("gauge" when the writer gave none); Unit is ""
	// when not given.
	Kind string `json:"kind"`
	Unit string `json:"unit"`
}

// Metric kinds (WithKind): a sampled value, a delta, a duration, one observation.
const (
	KindGauge     = "gauge"
	KindCounter   = "counter"
	KindTimer     = "timer"
	KindHistogram = "histogram"
)

// Event levels (WithLevel).
const (
	LevelDebug    = "debug"
	LevelInfo     = "info"
	LevelWarning  = "warning"
	LevelError    = "error"
	LevelCritical = "critical"
)

// Batch item operations.
const (
	OpState     = "state"
	OpEvent     = "event"
	OpMetric    = "metric"
	OpHeartbeat = "heartbeat"
	OpEnd       = "end"
)

// BatchItem is one write in a POST /api/batch. Build them with StateItem, EventItem,
// MetricItem, HistogramItem, HeartbeatItem and EndItem, and set ID (≤ 64 characters; a
// repeat within a session is stored once) and Timestamp (when it happened) where wanted.
type BatchItem struct {
	Op        string
	SessionID string
	ID        string
	Timestamp time.Time
	Name      string                 // event, metric
	Data      interface{}            // event
	Value     float64                // metric
	Tags      interface{}            // metric
	State     map[string]interface{} // state
	Timeout   time.Duration          // heartbeat (0: none)
	Status    string                 // end ("" means "ended")

	Kind, Unit               string   // metric (optional)
	Level, Message, Category string   // event (optional)
	Labels                   []string // event (optional)

	// Buckets (non-nil) and Sum make a metric a pre-aggregated histogram (HistogramItem):
	// its value is then the mean, whatever Value holds, and its kind histogram.
	Buckets []Bucket
	Sum     float64
}

// StateItem deep-merges state into the session's state.
func StateItem(sessionID string, state map[string]interface{}) BatchItem {
	return BatchItem{Op: OpState, SessionID: sessionID, State: state}
}

// EventItem logs an event.
func EventItem(sessionID, name string, data interface{}) BatchItem {
	return BatchItem{Op: OpEvent, SessionID: sessionID, Name: name, Data: data}
}

// MetricItem logs a metric value.
func MetricItem(sessionID, name string, value float64, tags interface{}) BatchItem {
	return BatchItem{Op: OpMetric, SessionID: sessionID, Name: name, Value: value, Tags: tags}
}

// HeartbeatItem is a keep-alive (timeout 0: none armed).
func HeartbeatItem(sessionID string, timeout time.Duration) BatchItem {
	return BatchItem{Op: OpHeartbeat, SessionID: sessionID, Timeout: timeout}
}

// EndItem ends the session with status StatusEnded or StatusCrashed.
func EndItem(sessionID, status string) BatchItem {
	return BatchItem{Op: OpEnd, SessionID: sessionID, Status: status}
}

type wireItem struct {
	Op        string                 `json:"op"`
	SessionID string                 `json:"session_id"`
	ID        string                 `json:"id,omitempty"`
	Timestamp string                 `json:"timestamp,omitempty"`
	Name      *string                `json:"name,omitempty"`
	Data      interface{}            `json:"data,omitempty"`
	Value     *float64               `json:"value,omitempty"`
	Tags      interface{}            `json:"tags,omitempty"`
	State     map[string]interface{} `json:"state,omitempty"`
	Timeout   *float64               `json:"timeout,omitempty"`
	Status    string                 `json:"status,omitempty"`
	Kind      string                 `json:"kind,omitempty"`
	Unit      string                 `json:"unit,omitempty"`
	Level     string                 `json:"level,omitempty"`
	Message   string                 `json:"message,omitempty"`
	Category  string                 `json:"category,omitempty"`
	Labels    []string               `json:"labels,omitempty"`
	*histogram
}

// MarshalJSON writes the fields the item's Op uses.
func (it BatchItem) MarshalJSON() ([]byte, error) {
	w := wireItem{Op: it.Op, SessionID: it.SessionID, ID: it.ID, Timestamp: formatTime(it.Timestamp)}
	switch it.Op {
	case OpState:
		w.State = it.State
		if w.State == nil {
			w.State = map[string]interface{}{}
		}
	case OpEvent:
		w.Name, w.Data = &it.Name, it.Data
		w.Level, w.Message, w.Category, w.Labels = it.Level, it.Message, it.Category, it.Labels
	case OpMetric:
		w.Name, w.Value, w.Tags = &it.Name, &it.Value, it.Tags
		w.Kind, w.Unit = it.Kind, it.Unit
		if it.Buckets != nil {
			h, err := newHistogram(it.Name, it.Buckets, it.Sum)
			if err != nil {
				return nil, err
			}
			mean := h.mean()
			w.Value, w.Kind, w.histogram = &mean, KindHistogram, h
		}
	case OpHeartbeat:
		if it.Timeout > 0 {
			s := it.Timeout.Seconds()
			w.Timeout = &s
		}
	case OpEnd:
		w.Status = it.Status
	default:
		return nil, fmt.Errorf("unknown batch op %q", it.Op)
	}
	return json.Marshal(w)
}

type batchRequest struct {
	Items []BatchItem `json:"items"`
}

// BatchResult is the answer to a batch: Accepted items stored or applied, Duplicates the
// events and metrics whose id the server already held.
type BatchResult struct {
	Status     string `json:"status"`
	Accepted   int    `json:"accepted"`
	Duplicates int    `json:"duplicates"`
}
