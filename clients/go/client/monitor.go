package client

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Event names a Monitor logs.
const (
	HungEvent      = "application_appears_hung"
	RecoveredEvent = "application_recovered"
)

// MonitorConfig tunes a Monitor. Zero fields take the defaults shown.
type MonitorConfig struct {
	// Timeout: no Heartbeat for longer than this and the application counts as hung (60 s).
	Timeout time.Duration
	// CheckInterval: how often the monitor checks and sends a keep-alive (5 s).
	CheckInterval time.Duration
	// KeepaliveTimeout: the server-side abandonment timeout each keep-alive arms
	// (max(30 s, 3 × CheckInterval)).
	KeepaliveTimeout time.Duration
	// OnError, if set, is called when a keep-alive or a hung/recovered event fails. A
	// keep-alive refused with 401/403 is reported once and ends the keep-alives (the same
	// key would be refused every CheckInterval); hang detection goes on.
	OnError func(error)
}

func (c MonitorConfig) withDefaults() MonitorConfig {
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = 5 * time.Second
	}
	if c.KeepaliveTimeout <= 0 {
		c.KeepaliveTimeout = 3 * c.CheckInterval
		if c.KeepaliveTimeout < 30*time.Second {
			c.KeepaliveTimeout = 30 * time.Second
		}
	}
	return c
}

// Monitor tells a hung application from a dead one, as the Python client's heartbeat
// monitor does. The application calls Heartbeat from its main loop. If no Heartbeat comes
// for Timeout, the monitor's goroutine logs the event "application_appears_hung"
// (seconds_since_heartbeat, timeout) once and the session's status becomes "hung"; the
// next Heartbeat logs "application_recovered" (hung_for_seconds). Every CheckInterval the
// monitor also sends a keep-alive to POST /api/sessions/{id}/heartbeat: a hung application
// still sends them (its monitor runs), a dead process does not, and the server marks its
// session "abandoned" after KeepaliveTimeout.
type Monitor struct {
	cfg       MonitorConfig
	logEvent  func(ctx context.Context, name string, data map[string]interface{}) error
	keepalive func(ctx context.Context, timeout time.Duration) error
	// syncEmit: Heartbeat logs "recovered" on the caller's goroutine (a queue, cheap);
	// otherwise on a goroutine of its own (a network call).
	syncEmit bool

	mu       sync.Mutex
	lastBeat time.Time
	hungAt   time.Time // zero when not hung
	stopped  bool

	keepaliveRefused bool // only the monitor's goroutine touches it

	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	emits    sync.WaitGroup
	stopOnce sync.Once
}

// StartMonitor starts a Monitor for a session that logs hung/recovered events with direct
// calls (LogEventCtx). For a BatchSession, use its StartMonitor instead.
func (c *Client) StartMonitor(sessionID string, cfg MonitorConfig) *Monitor {
	m := newMonitor(cfg,
		func(ctx context.Context, name string, data map[string]interface{}) error {
			return c.LogEventCtx(ctx, sessionID, name, data, WithLevel(reportLevel(name)))
		},
		func(ctx context.Context, timeout time.Duration) error {
			return c.Heartbeat(ctx, sessionID, timeout)
		}, false)
	m.start()
	return m
}

// reportLevel: a hang is worth a look (the process may just be busy), a recovery is news.
func reportLevel(event string) string {
	if event == HungEvent {
		return LevelWarning
	}
	return LevelInfo
}

func newMonitor(
	cfg MonitorConfig,
	logEvent func(context.Context, string, map[string]interface{}) error,
	keepalive func(context.Context, time.Duration) error,
	syncEmit bool,
) *Monitor {
	ctx, cancel := context.WithCancel(context.Background())
	return &Monitor{
		cfg:       cfg.withDefaults(),
		logEvent:  logEvent,
		keepalive: keepalive,
		syncEmit:  syncEmit,
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
	}
}

func (m *Monitor) start() {
	m.mu.Lock()
	m.lastBeat = time.Now()
	m.mu.Unlock()
	go m.run()
}

// Heartbeat says the application is alive. It is cheap: call it from your main loop.
func (m *Monitor) Heartbeat() {
	now := time.Now()
	m.mu.Lock()
	m.lastBeat = now
	if m.hungAt.IsZero() || m.stopped {
		m.mu.Unlock()
		return
	}
	hungFor := now.Sub(m.hungAt)
	m.hungAt = time.Time{}
	if !m.syncEmit {
		m.emits.Add(1)
	}
	m.mu.Unlock()
	data := map[string]interface{}{"hung_for_seconds": round3(hungFor.Seconds())}
	if m.syncEmit {
		m.emit(RecoveredEvent, data)
		return
	}
	go func() {
		defer m.emits.Done()
		m.emit(RecoveredEvent, data)
	}()
}

// Hung reports whether the monitor currently considers the application hung.
func (m *Monitor) Hung() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.hungAt.IsZero()
}

// Stop stops the monitor's goroutine (and waits for it). Calling it again does nothing.
func (m *Monitor) Stop() {
	m.stopOnce.Do(func() {
		m.mu.Lock()
		m.stopped = true
		m.mu.Unlock()
		m.cancel()
		<-m.done
		m.emits.Wait()
	})
}

// Running reports whether the monitor's goroutine runs.
func (m *Monitor) Running() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

func (m *Monitor) run() {
	defer close(m.done)
	m.sendKeepalive()
	ticker := time.NewTicker(m.cfg.CheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-ticker.C:
		}
		m.check(time.Now())
		m.sendKeepalive()
	}
}

func (m *Monitor) check(now time.Time) {
	m.mu.Lock()
	silent := now.Sub(m.lastBeat)
	if silent <= m.cfg.Timeout || !m.hungAt.IsZero() {
		m.mu.Unlock()
		return
	}
	m.hungAt = now
	m.mu.Unlock()
	m.emit(HungEvent, map[string]interface{}{
		"seconds_since_heartbeat": round3(silent.Seconds()),
		"timeout":                 m.cfg.Timeout.Seconds(),
	})
}

func (m *Monitor) emit(name string, data map[string]interface{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.logEvent(ctx, name, data); err != nil && m.cfg.OnError != nil {
		m.cfg.OnError(fmt.Errorf("datacat: could not log %s: %w", name, err))
	}
}

func (m *Monitor) sendKeepalive() {
	if m.keepaliveRefused {
		return
	}
	timeout := m.cfg.CheckInterval
	if timeout < 5*time.Second {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(m.ctx, timeout)
	defer cancel()
	err := m.keepalive(ctx, m.cfg.KeepaliveTimeout)
	if err == nil || m.ctx.Err() != nil {
		return
	}
	if refusedKey(err) {
		m.keepaliveRefused = true
		err = fmt.Errorf("datacat: keep-alives stopped, the server refused them: %w", err)
	} else {
		err = fmt.Errorf("datacat: keep-alive failed (will keep trying): %w", err)
	}
	if m.cfg.OnError != nil {
		m.cfg.OnError(err)
	}
}

func round3(x float64) float64 {
	return math.Round(x*1000) / 1000
}
