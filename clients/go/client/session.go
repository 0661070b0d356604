package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Overflow says what a BatchSession does when MaxQueue items wait.
type Overflow int

const (
	// DropOldest drops the oldest queued item (default: never slows the application).
	DropOldest Overflow = iota
	// DropNewest refuses the new item: the logging call returns ErrQueueFull.
	DropNewest
	// Block makes the logging call wait for room, so nothing is lost.
	Block
)

// BatchConfig tunes a BatchSession. Zero fields take the defaults shown.
type BatchConfig struct {
	FlushInterval  time.Duration // 200 ms: how often the queue is sent
	FlushAt        int           // 2,000: send at once when this many items wait
	MaxQueue       int           // 200,000 items waiting at most
	Overflow       Overflow      // DropOldest
	MaxBatchItems  int           // 5,000 items per request (the server's limit)
	MaxBatchBytes  int           // 4 MiB - 1 KiB per request (under the server's limit)
	InitialBackoff time.Duration // 100 ms, doubling on each retry ...
	MaxBackoff     time.Duration // ... up to 5 s (a longer Retry-After is honoured, ≤ 30 s)
	// OnError, if set, is called from the delivery goroutine for every *DeliveryError.
	OnError func(error)
}

func (c BatchConfig) withDefaults() BatchConfig {
	if c.FlushInterval <= 0 {
		c.FlushInterval = 200 * time.Millisecond
	}
	if c.FlushAt <= 0 {
		c.FlushAt = 2000
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = 200000
	}
	if c.MaxBatchItems <= 0 {
		c.MaxBatchItems = 5000
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 4*1024*1024 - 1024
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	return c
}

// WithBatchConfig tunes the BatchSession that StartSession returns (CreateSessionCtx
// ignores it).
func WithBatchConfig(cfg BatchConfig) SessionOption {
	return func(b *createBody) { b.batch = &cfg }
}

// DeliveryError reports queued items that will never be stored (Count of them) and why.
type DeliveryError struct {
	Count int
	Err   error
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("datacat: %d item(s) dropped: %v", e.Count, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Stats counts what became of a BatchSession's writes.
type Stats struct {
	Queued     int   // waiting in the queue now
	Delivered  int64 // stored or applied by the server (duplicates included)
	Duplicates int64 // resent items the server already held
	Dropped    int64 // given up on: refused, overflowed, or unsent at End
}

const maxKeptErrors = 100

// BatchSession logs to one session without waiting for the network: each call validates
// its arguments, stamps the item with the call time and a client id, and queues it. A
// background goroutine sends the queue to POST /api/batch every FlushInterval, as soon as
// FlushAt items wait, on Flush and on End.
//
// Delivery is exactly once: a batch whose answer is lost (connection error, timeout, 5xx)
// is sent again with the same ids, and the server ignores the ids it holds. Connection
// errors, 408, 429 and 5xx are retried with backoff until the session is ended or closed;
// a 422 naming items drops just those, any other 4xx drops the batch — never retried.
// What was dropped is counted in Stats and kept in Errors.
//
// A 401 or 403 (the key is missing, unknown, revoked or of the wrong scope) is reported
// once — one *DeliveryError in Errors and OnError, matching ErrUnauthorized or
// ErrForbidden — and ends delivery: what is queued is dropped without a request, and
// later logging calls return the refusal instead of queueing.
//
// Its methods are safe for concurrent use.
type BatchSession struct {
	client *Client
	id     string
	cfg    BatchConfig
	prefix string

	mu       sync.Mutex
	notFull  *sync.Cond
	queue    []entry
	seq      uint64
	accepted uint64 // items ever queued
	settled  uint64 // items delivered or dropped, in queue order
	waiters  []waiter
	closed   bool
	refused  error // set by a 401/403: nothing more is sent
	errs     []error
	monitor  *Monitor

	delivered, duplicates, dropped int64 // atomic

	wake     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	stopOnce sync.Once
}

type entry struct {
	op     string
	ts     time.Time
	seq    uint64
	name   string
	raw    []byte // event data / state patch, as JSON
	value  float64
	tags   []byte     // metric tags as JSON, nil for none
	status string     // end
	extra  *fields    // issue 12's optional fields, nil (the common case) for none
	hist   *histogram // a pre-aggregated histogram's buckets, sum and count
}

type waiter struct {
	target uint64
	ch     chan struct{}
}

// StartSession creates a session (with the options given) and returns a BatchSession
// logging to it.
func (c *Client) StartSession(ctx context.Context, opts ...SessionOption) (*BatchSession, error) {
	b := &createBody{}
	for _, opt := range opts {
		opt(b)
	}
	id, err := c.CreateSessionCtx(ctx, opts...)
	if err != nil {
		return nil, err
	}
	cfg := BatchConfig{}
	if b.batch != nil {
		cfg = *b.batch
	}
	return c.AttachSession(id, cfg), nil
}

// AttachSession returns a BatchSession logging to an existing session.
func (c *Client) AttachSession(sessionID string, cfg BatchConfig) *BatchSession {
	var random [10]byte
	if _, err := rand.Read(random[:]); err != nil {
		copy(random[:], strconv.FormatInt(time.Now().UnixNano(), 36))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &BatchSession{
		client: c,
		id:     sessionID,
		cfg:    cfg.withDefaults(),
		prefix: hex.EncodeToString(random[:]) + ".",
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
	}
	s.notFull = sync.NewCond(&s.mu)
	go s.run()
	return s
}

// ID is the session's id.
func (s *BatchSession) ID() string { return s.id }

// Client is the client the session sends through.
func (s *BatchSession) Client() *Client { return s.client }

// UpdateState queues a patch deep-merged into the session's state.
func (s *BatchSession) UpdateState(state map[string]interface{}) error {
	if state == nil {
		state = map[string]interface{}{}
	}
	raw, err := json.Marshal(state)
	if err != nil {
		return invalid(err)
	}
	return s.enqueue(entry{op: OpState, raw: raw})
}

// LogEvent queues an event; data is any JSON value (nil for none). opts may set the
// level, message, category and labels (WithLevel...); the session sets ids and times.
func (s *BatchSession) LogEvent(name string, data interface{}, opts ...WriteOption) error {
	if err := checkName(name); err != nil {
		return err
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return invalid(err)
	}
	e := entry{op: OpEvent, name: name, raw: raw}
	if len(opts) > 0 {
		f := applyWrite(opts).fields
		if f.Level != "" && !oneOf(f.Level, LevelDebug, LevelInfo, LevelWarning, LevelError, LevelCritical) {
			return invalid(fmt.Errorf("event %q: unknown level %q", name, f.Level))
		}
		f.Kind, f.Unit = "", ""
		e.extra = &f
	}
	return s.enqueue(e)
}

// LogMetric queues a metric value; tags is nil, a []string or a map[string]interface{}.
// opts may set the kind and unit (WithKind, WithUnit); the session sets ids and times.
func (s *BatchSession) LogMetric(name string, value float64, tags interface{}, opts ...WriteOption) error {
	if err := checkName(name); err != nil {
		return err
	}
	var extra *fields
	if len(opts) > 0 {
		f := applyWrite(opts).fields
		if f.Kind != "" && !oneOf(f.Kind, KindGauge, KindCounter, KindTimer, KindHistogram) {
			return invalid(fmt.Errorf("metric %q: unknown kind %q", name, f.Kind))
		}
		extra = &fields{Kind: f.Kind, Unit: f.Unit}
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return invalid(fmt.Errorf("metric %q: value must be finite, got %v", name, value))
	}
	raw, err := encodeTags(tags)
	if err != nil {
		return err
	}
	return s.enqueue(entry{op: OpMetric, name: name, value: value, tags: raw, extra: extra})
}

// encodeTags is a metric's tags as JSON, nil for none.
func encodeTags(tags interface{}) ([]byte, error) {
	if tags == nil {
		return nil, nil
	}
	raw, err := json.Marshal(tags)
	if err != nil {
		return nil, invalid(err)
	}
	return raw, nil
}

// Counter queues a counter sample of by (a delta, summed when read).
func (s *BatchSession) Counter(name string, by float64, tags interface{}, opts ...WriteOption) error {
	return s.LogMetric(name, by, tags, append(opts, WithKind(KindCounter))...)
}

// Observe queues one observation of a distribution (kind histogram).
func (s *BatchSession) Observe(name string, value float64, tags interface{}, opts ...WriteOption) error {
	return s.LogMetric(name, value, tags, append(opts, WithKind(KindHistogram))...)
}

// Timer starts timing now; calling the function it returns queues the elapsed time in
// milliseconds (kind timer, unit "ms"): defer s.Timer("load", nil)(). The clock is
// monotonic, so a wall-clock step cannot make a negative duration.
func (s *BatchSession) Timer(name string, tags interface{}) func() error {
	started := time.Now()
	return func() error {
		ms := float64(time.Since(started).Nanoseconds()) / 1e6
		return s.LogMetric(name, ms, tags, WithKind(KindTimer), WithUnit("ms"))
	}
}

func oneOf(value string, allowed ...string) bool {
	for _, a := range allowed {
		if value == a {
			return true
		}
	}
	return false
}

func checkName(name string) error {
	if name == "" {
		return invalid(errors.New("name must not be empty"))
	}
	return nil
}

func (s *BatchSession) enqueue(e entry) error {
	e.ts = time.Now()
	s.mu.Lock()
	for !s.closed && len(s.queue) >= s.cfg.MaxQueue && s.cfg.Overflow == Block {
		s.poke()
		s.notFull.Wait()
	}
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.refused != nil {
		refused := s.refused
		s.mu.Unlock()
		atomic.AddInt64(&s.dropped, 1)
		return refused
	}
	if len(s.queue) >= s.cfg.MaxQueue {
		if s.cfg.Overflow == DropNewest {
			s.mu.Unlock()
			atomic.AddInt64(&s.dropped, 1)
			return ErrQueueFull
		}
		s.queue[0] = entry{}
		s.queue = s.queue[1:]
		atomic.AddInt64(&s.dropped, 1)
		s.settleLocked(1)
	}
	s.seq++
	e.seq = s.seq
	s.queue = append(s.queue, e)
	s.accepted++
	full := len(s.queue) >= s.cfg.FlushAt
	s.mu.Unlock()
	if full {
		s.poke()
	}
	return nil
}

func (s *BatchSession) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Flush sends everything queued so far and waits until it is delivered or given up on.
// It returns ctx's error if ctx ends first (delivery goes on in the background), or a
// *DeliveryError if items were dropped meanwhile.
func (s *BatchSession) Flush(ctx context.Context) error {
	droppedBefore := atomic.LoadInt64(&s.dropped)
	s.mu.Lock()
	if s.settled >= s.accepted {
		s.mu.Unlock()
		return nil
	}
	w := waiter{target: s.accepted, ch: make(chan struct{})}
	s.waiters = append(s.waiters, w)
	s.mu.Unlock()
	s.poke()
	select {
	case <-w.ch:
	case <-s.done:
		select {
		case <-w.ch:
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	if n := atomic.LoadInt64(&s.dropped) - droppedBefore; n > 0 {
		return &DeliveryError{Count: int(n), Err: s.lastError()}
	}
	return nil
}

// End stops the monitor, queues the end of the session (status "ended"), delivers
// everything queued and stops the background goroutine. If ctx ends first, what is left
// is dropped (counted in Stats) and ctx's error returned. Later logging calls return
// ErrClosed.
func (s *BatchSession) End(ctx context.Context) error {
	return s.EndAs(ctx, StatusEnded)
}

// EndAs is End with status StatusEnded or StatusCrashed.
func (s *BatchSession) EndAs(ctx context.Context, status string) error {
	return s.shutdown(ctx, &entry{op: OpEnd, status: status})
}

// Close delivers what is queued and stops the background goroutine without ending the
// session (another process may go on logging to it).
func (s *BatchSession) Close(ctx context.Context) error {
	return s.shutdown(ctx, nil)
}

func (s *BatchSession) shutdown(ctx context.Context, end *entry) error {
	s.StopMonitor()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	if end != nil {
		end.ts = time.Now()
		s.seq++
		end.seq = s.seq
		s.queue = append(s.queue, *end)
		s.accepted++
	}
	s.closed = true
	s.notFull.Broadcast()
	s.mu.Unlock()
	err := s.Flush(ctx)
	s.stopOnce.Do(func() {
		close(s.stop)
		s.cancel()
	})
	<-s.done
	return err
}

// Stats returns the session's delivery counters.
func (s *BatchSession) Stats() Stats {
	s.mu.Lock()
	queued := len(s.queue)
	s.mu.Unlock()
	return Stats{
		Queued:     queued,
		Delivered:  atomic.LoadInt64(&s.delivered),
		Duplicates: atomic.LoadInt64(&s.duplicates),
		Dropped:    atomic.LoadInt64(&s.dropped),
	}
}

// Errors returns the most recent delivery errors (at most 100), oldest first.
func (s *BatchSession) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

func (s *BatchSession) lastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) == 0 {
		return errors.New("overflow")
	}
	return s.errs[len(s.errs)-1]
}

// StartMonitor starts a Monitor for this session whose hung/recovered events go through
// the queue; call the session's Heartbeat (or the monitor's) from the application's loop.
// A monitor already running is stopped first. End and Close stop it.
func (s *BatchSession) StartMonitor(cfg MonitorConfig) *Monitor {
	m := newMonitor(cfg,
		func(_ context.Context, name string, data map[string]interface{}) error {
			return s.LogEvent(name, data, WithLevel(reportLevel(name)))
		},
		func(ctx context.Context, timeout time.Duration) error {
			return s.client.Heartbeat(ctx, s.id, timeout)
		}, true)
	s.mu.Lock()
	old := s.monitor
	s.monitor = m
	s.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	m.start()
	return m
}

// Heartbeat tells the session's monitor the application is alive (no-op without one).
func (s *BatchSession) Heartbeat() {
	s.mu.Lock()
	m := s.monitor
	s.mu.Unlock()
	if m != nil {
		m.Heartbeat()
	}
}

// StopMonitor stops the session's monitor, if one runs.
func (s *BatchSession) StopMonitor() {
	s.mu.Lock()
	m := s.monitor
	s.monitor = nil
	s.mu.Unlock()
	if m != nil {
		m.Stop()
	}
}

// ---------------------------------------------------------------------------------------
// The delivery goroutine.

func (s *BatchSession) run() {
	defer close(s.done)
	timer := time.NewTimer(s.cfg.FlushInterval)
	defer timer.Stop()
	for {
		select {
		case <-s.stop:
			s.abandonQueue("session closed before delivery")
			return
		case <-s.wake:
		case <-timer.C:
		}
		s.drain()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(s.cfg.FlushInterval)
	}
}

func (s *BatchSession) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

func (s *BatchSession) drain() {
	for !s.stopping() {
		s.mu.Lock()
		n := len(s.queue)
		if n > s.cfg.MaxBatchItems {
			n = s.cfg.MaxBatchItems
		}
		items := make([]entry, n)
		copy(items, s.queue[:n])
		for i := 0; i < n; i++ {
			s.queue[i] = entry{}
		}
		s.queue = s.queue[n:]
		if len(s.queue) == 0 {
			s.queue = nil
		}
		s.notFull.Broadcast()
		refused := s.refused != nil
		s.mu.Unlock()
		if n == 0 {
			return
		}
		if refused {
			s.dropUnreported(n)
			continue
		}
		s.deliver(items)
	}
}

func (s *BatchSession) deliver(items []entry) {
	var all [][]byte
	for i := range items {
		data, err := s.encode(&items[i])
		if err != nil {
			s.drop(1, fmt.Errorf("cannot encode %s: %w", items[i].describe(), err))
			continue
		}
		if len(data)+len(batchPrefix)+len(batchSuffix) > s.cfg.MaxBatchBytes {
			s.drop(1, fmt.Errorf("%s is larger than a whole batch (%d bytes)", items[i].describe(), len(data)))
			continue
		}
		all = append(all, data)
	}
	pending := s.chunks(all)
	for len(pending) > 0 {
		current := pending[0]
		pending = pending[1:]
		split := s.send(current)
		if split != nil {
			pending = append(split, pending...)
		}
		if s.refusal() != nil {
			for _, chunk := range pending {
				s.dropUnreported(len(chunk))
			}
			return
		}
		if s.stopping() {
			for _, chunk := range pending {
				s.drop(len(chunk), errors.New("session closed while the server was unreachable"))
			}
			return
		}
	}
}

// send delivers one chunk, retrying; it returns halves to send instead when the server
// found the chunk too large or refused it without naming items.
func (s *BatchSession) send(current [][]byte) [][][]byte {
	attempt := 0
	warned := false
	for len(current) > 0 {
		result, err := s.client.batchRaw(s.ctx, batchBody(current))
		if err == nil {
			atomic.AddInt64(&s.delivered, int64(len(current)))
			atomic.AddInt64(&s.duplicates, int64(result.Duplicates))
			s.settle(len(current))
			return nil
		}
		if s.stopping() {
			s.drop(len(current), fmt.Errorf("session closed while the server was unreachable: %w", err))
			return nil
		}
		if refusedKey(err) {
			s.mu.Lock()
			s.refused = fmt.Errorf("datacat: not queued, the server refused this session's writes: %w", err)
			s.mu.Unlock()
			s.drop(len(current), fmt.Errorf("the server refused the key, later writes are dropped unsent: %w", err))
			return nil
		}
		if retryable(err) {
			if !warned && s.cfg.OnError != nil {
				s.cfg.OnError(fmt.Errorf("datacat: batch not delivered, retrying: %w", err))
			}
			warned = true
			if !s.sleep(s.backoff(attempt, err)) {
				s.drop(len(current), fmt.Errorf("session closed while the server was unreachable: %w", err))
				return nil
			}
			attempt++
			continue
		}
		var api *APIError
		errors.As(err, &api)
		if api != nil && api.Status == 422 {
			if bad := badIndexes(api.Detail, len(current)); len(bad) > 0 {
				kept := current[:0:0]
				for i, data := range current {
					if bad[i] {
						s.drop(1, fmt.Errorf("server refused item: %w", err))
					} else {
						kept = append(kept, data)
					}
				}
				current = kept
				continue
			}
		}
		if api != nil && (api.Status == 413 || api.Status == 422) && len(current) > 1 {
			half := len(current) / 2
			return [][][]byte{current[:half], current[half:]}
		}
		s.drop(len(current), fmt.Errorf("server refused the batch: %w", err))
		return nil
	}
	return nil
}

func (s *BatchSession) backoff(attempt int, err error) time.Duration {
	delay := s.cfg.InitialBackoff
	for i := 0; i < attempt && delay < s.cfg.MaxBackoff; i++ {
		delay *= 2
	}
	if delay > s.cfg.MaxBackoff {
		delay = s.cfg.MaxBackoff
	}
	var api *APIError
	if errors.As(err, &api) && api.RetryAfter > delay {
		delay = api.RetryAfter
		if delay > 30*time.Second {
			delay = 30 * time.Second
		}
	}
	return delay
}

func (s *BatchSession) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.stop:
		return false
	}
}

// badIndexes reads the item indexes out of a batch's 422 detail.
func badIndexes(detail interface{}, n int) map[int]bool {
	list, ok := detail.([]interface{})
	if !ok {
		return nil
	}
	bad := map[int]bool{}
	for _, e := range list {
		m, ok := e.(map[string]interface{})
		if !ok {
			continue
		}
		if f, ok := m["index"].(float64); ok && f >= 0 && int(f) < n && f == math.Trunc(f) {
			bad[int(f)] = true
		}
	}
	return bad
}

func (s *BatchSession) drop(count int, err error) {
	if count <= 0 {
		return
	}
	atomic.AddInt64(&s.dropped, int64(count))
	de := &DeliveryError{Count: count, Err: err}
	s.mu.Lock()
	s.errs = append(s.errs, de)
	if len(s.errs) > maxKeptErrors {
		s.errs = append([]error(nil), s.errs[len(s.errs)-maxKeptErrors:]...)
	}
	s.settleLocked(uint64(count))
	s.mu.Unlock()
	if s.cfg.OnError != nil {
		s.cfg.OnError(de)
	}
}

// dropUnreported counts items lost to a refusal that was already reported once.
func (s *BatchSession) dropUnreported(count int) {
	atomic.AddInt64(&s.dropped, int64(count))
	s.settle(count)
}

func (s *BatchSession) refusal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

func (s *BatchSession) abandonQueue(reason string) {
	s.mu.Lock()
	n := len(s.queue)
	s.queue = nil
	s.notFull.Broadcast()
	s.mu.Unlock()
	s.drop(n, errors.New(reason))
}

func (s *BatchSession) settle(n int) {
	s.mu.Lock()
	s.settleLocked(uint64(n))
	s.mu.Unlock()
}

func (s *BatchSession) settleLocked(n uint64) {
	s.settled += n
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if w.target <= s.settled {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	s.waiters = kept
}

var (
	batchPrefix = []byte(`{"items":[`)
	batchSuffix = []byte(`]}`)
)

func batchBody(items [][]byte) []byte {
	size := len(batchPrefix) + len(batchSuffix) + len(items)
	for _, it := range items {
		size += len(it)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	buf.Write(batchPrefix)
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(it)
	}
	buf.Write(batchSuffix)
	return buf.Bytes()
}

func (s *BatchSession) chunks(items [][]byte) [][][]byte {
	var result [][][]byte
	var current [][]byte
	size := len(batchPrefix) + len(batchSuffix)
	for _, it := range items {
		cost := len(it) + 1
		if len(current) > 0 && (len(current) >= s.cfg.MaxBatchItems || size+cost > s.cfg.MaxBatchBytes) {
			result = append(result, current)
			current, size = nil, len(batchPrefix)+len(batchSuffix)
		}
		current = append(current, it)
		size += cost
	}
	if len(current) > 0 {
		result = append(result, current)
	}
	return result
}

type queuedWire struct {
	Op        string          `json:"op"`
	SessionID string          `json:"session_id"`
	Timestamp string          `json:"timestamp"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Value     *float64        `json:"value,omitempty"`
	Tags      json.RawMessage `json:"tags,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	State     json.RawMessage `json:"state,omitempty"`
	Status    string          `json:"status,omitempty"`
	Kind      string          `json:"kind,omitempty"`
	Unit      string          `json:"unit,omitempty"`
	Level     string          `json:"level,omitempty"`
	Message   string          `json:"message,omitempty"`
	Category  string          `json:"category,omitempty"`
	Labels    []string        `json:"labels,omitempty"`
	*histogram
}

// ClientID is the id a queued item carries: a random per-BatchSession prefix and the
// item's sequence number (at most 38 characters).
func (s *BatchSession) clientID(seq uint64) string {
	return s.prefix + strconv.FormatUint(seq, 16)
}

func (s *BatchSession) encode(e *entry) ([]byte, error) {
	w := queuedWire{Op: e.op, SessionID: s.id, Timestamp: formatTime(e.ts)}
	if e.extra != nil {
		x := e.extra
		w.Kind, w.Unit, w.Level, w.Message, w.Category, w.Labels =
			x.Kind, x.Unit, x.Level, x.Message, x.Category, x.Labels
	}
	switch e.op {
	case OpState:
		w.ID, w.State = s.clientID(e.seq), e.raw
	case OpEvent:
		w.ID, w.Name, w.Data = s.clientID(e.seq), e.name, e.raw
	case OpMetric:
		value := e.value
		w.ID, w.Name, w.Value, w.Tags = s.clientID(e.seq), e.name, &value, e.tags
		w.histogram = e.hist
	case OpEnd:
		w.Status = e.status
	}
	return json.Marshal(w)
}

func (e *entry) describe() string {
	if e.op == OpEvent || e.op == OpMetric {
		return fmt.Sprintf("%s %q", e.op, e.name)
	}
	return e.op
}
