package client_test

// Errors and panics as exception events with frames, from real stacks: ExceptionData here,
// and LogError / BatchSession.LogError / LogPanic / Recover read back from a real server
// (DATACAT_TEST_URL). An external test package, so these frames are not the client's own
// and count as the application's.

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/datacat/datacat/clients/go/client"
)

const (
	thisPackage   = "github.com/datacat/datacat/clients/go/client_test"
	clientPackage = "github.com/datacat/datacat/clients/go/client"
)

// here is the line it is called from.
func here() int {
	_, _, line, _ := runtime.Caller(1)
	return line
}

func openMissing() error {
	_, err := os.Open("/no/such/datacat/file")
	return err
}

func reportFromHere() (map[string]interface{}, int) {
	err := openMissing()
	line := here() + 1
	return client.ExceptionData(err, false), line
}

func TestExceptionDataOfAnError(t *testing.T) {
	data, line := reportFromHere()
	callLine := here() - 1
	if data["type"] != "*fs.PathError" || data["module"] != "io/fs" ||
		data["message"] != "open /no/such/datacat/file: no such file or directory" {
		t.Fatalf("type/module/message %v %v %v", data["type"], data["module"], data["message"])
	}
	if _, ok := data["fatal"]; ok {
		t.Fatalf("fatal sent for a non-fatal error")
	}
	frames := data["frames"].([]client.Frame)
	n := len(frames)
	if n < 4 {
		t.Fatalf("frames %+v", frames)
	}
	_, file, _, _ := runtime.Caller(0)
	inner := frames[n-1]
	if inner != (client.Frame{File: file, Line: line, Function: "reportFromHere", Module: thisPackage, InApp: true}) {
		t.Fatalf("innermost %+v", inner)
	}
	test := frames[n-2]
	if test.Function != "TestExceptionDataOfAnError" || test.Line != callLine || !test.InApp {
		t.Fatalf("test frame %+v", test)
	}
	// testing.tRunner and runtime.goexit: GOROOT's, outermost
	for _, f := range frames[:n-2] {
		if f.InApp || (f.Module != "testing" && f.Module != "runtime") {
			t.Fatalf("outer frame %+v", f)
		}
	}
	if frames[0].Module != "runtime" || frames[0].Function != "goexit" {
		t.Fatalf("outermost %+v", frames[0])
	}
	lines := data["traceback"].([]string)
	if lines[0] != "*fs.PathError: open /no/such/datacat/file: no such file or directory" ||
		lines[1] != thisPackage+".reportFromHere" || lines[2] != "\t"+file+":"+itoa(line) {
		t.Fatalf("traceback %q", lines[:3])
	}
	if fatal := client.ExceptionData(errors.New("x"), true); fatal["fatal"] != true || fatal["type"] != "*errors.errorString" {
		t.Fatalf("fatal %v", fatal)
	}
	var pathErr *fs.PathError
	if !errors.As(openMissing(), &pathErr) {
		t.Fatalf("the test's own premise: os.Open gives a *fs.PathError")
	}
}

func recurse(depth int) map[string]interface{} {
	if depth == 0 {
		return client.ExceptionData(errors.New("deep"), false)
	}
	return recurse(depth - 1)
}

func TestExceptionDataKeepsTheInnermostFrames(t *testing.T) {
	data := recurse(client.MaxFrames + 20)
	frames := data["frames"].([]client.Frame)
	// recurse ×121, the test, testing.tRunner, runtime.goexit: the innermost 100 are kept
	if len(frames) != client.MaxFrames || data["frames_omitted"] != 24 {
		t.Fatalf("%d frames, omitted %v", len(frames), data["frames_omitted"])
	}
	for _, f := range frames {
		if f.Function != "recurse" {
			t.Fatalf("kept an outer frame %+v", f)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// -- against a real server ----------------------------------------------------------------

func testURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("DATACAT_TEST_URL")
	if u == "" {
		t.Skip("DATACAT_TEST_URL is not set: no datacat server to test against")
	}
	return u
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkout reports the same error from two places of one function.
func checkout(ctx context.Context, c *client.Client, id string, step int) (int, error) {
	err := openMissing()
	if step == 1 {
		return here(), c.LogError(ctx, id, err, false) // first place
	}
	return here(), c.LogError(ctx, id, err, false) // second place
}

type frameShape struct {
	Module, Function string
	InApp            bool
}

func exceptions(t *testing.T, c *client.Client, id string) (*client.Session, []map[string]interface{}) {
	t.Helper()
	s, err := c.GetSession(id)
	ok(t, err)
	var found []map[string]interface{}
	for _, e := range s.Events {
		if e.Name == client.ExceptionEvent {
			found = append(found, e.Data.(map[string]interface{}))
		}
	}
	return s, found
}

// stored reads an event's frames back as sent (JSON numbers as float64).
func stored(t *testing.T, data map[string]interface{}) ([]client.Frame, []frameShape) {
	t.Helper()
	raw, err := json.Marshal(data["frames"])
	ok(t, err)
	var frames []client.Frame
	ok(t, json.Unmarshal(raw, &frames))
	shapes := make([]frameShape, len(frames))
	for i, f := range frames {
		shapes[i] = frameShape{f.Module, f.Function, f.InApp}
	}
	return frames, shapes
}

func TestIntegrationLogErrorFromTwoPlaces(t *testing.T) {
	c := client.NewClient(testURL(t))
	ctx := ctxFor(t)
	var lines []int
	var shapes [][]frameShape
	var ids []string
	product := "go-frames-" + time.Now().Format(time.RFC3339Nano)
	for step := 1; step <= 2; step++ {
		id, err := c.CreateSessionCtx(ctx, client.WithProduct(product))
		ok(t, err)
		line, err := checkout(ctx, c, id, step)
		ok(t, err)
		s, found := exceptions(t, c, id)
		if len(found) != 1 || s.Status != "active" {
			t.Fatalf("status %s, exceptions %v", s.Status, found)
		}
		data := found[0]
		if data["type"] != "*fs.PathError" || data["module"] != "io/fs" || data["fatal"] != nil {
			t.Fatalf("data %v", data)
		}
		frames, shape := stored(t, data)
		inner := frames[len(frames)-1]
		if inner.Function != "checkout" || inner.Module != thisPackage || !inner.InApp || inner.Line != line {
			t.Fatalf("innermost %+v, want checkout at line %d", inner, line)
		}
		lines, shapes, ids = append(lines, line), append(shapes, shape), append(ids, id)
	}
	if lines[0] == lines[1] || !reflect.DeepEqual(shapes[0], shapes[1]) {
		t.Fatalf("lines %v, frames %v vs %v", lines, shapes[0], shapes[1])
	}
	if err := c.LogError(ctx, ids[0], nil, false); err != nil {
		t.Fatalf("nil error: %v", err)
	}
	// ... so the server puts them in one group: the same fingerprint in both sessions
	resp, err := http.Get(c.BaseURL + "/api/exceptions?" + url.Values{"product": {product}}.Encode())
	ok(t, err)
	defer resp.Body.Close()
	var groups struct {
		Items []struct {
			Type                  string
			Occurrences, Sessions int
		}
	}
	ok(t, json.NewDecoder(resp.Body).Decode(&groups))
	if resp.StatusCode != http.StatusOK || len(groups.Items) != 1 || groups.Items[0].Type != "*fs.PathError" ||
		groups.Items[0].Occurrences != 2 || groups.Items[0].Sessions != 2 {
		t.Fatalf("GET /api/exceptions: %d %+v", resp.StatusCode, groups)
	}
}

var explodeLine int

func explode() {
	var m map[string]int
	explodeLine = here() + 1
	m["x"]++
}

func crashes(ctx context.Context, s *client.BatchSession, line *int) {
	defer s.Recover(ctx)
	*line = here() + 1
	explode()
}

func TestIntegrationRecoverEndsTheSessionCrashedAndPanicsAgain(t *testing.T) {
	c := client.NewClient(testURL(t))
	ctx := ctxFor(t)
	s, err := c.StartSession(ctx, client.WithProduct("go-frames"))
	ok(t, err)
	ok(t, s.LogEvent("before", nil))
	var callLine int
	var repanicked interface{}
	func() {
		defer func() { repanicked = recover() }()
		crashes(ctx, s, &callLine)
	}()
	runtimeErr, isRuntime := repanicked.(runtime.Error)
	if !isRuntime || runtimeErr.Error() != "assignment to entry in nil map" {
		t.Fatalf("re-panicked with %v", repanicked)
	}
	if err := s.LogEvent("after", nil); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("the session was not ended: %v", err)
	}

	got, found := exceptions(t, c, s.ID())
	if got.Status != "crashed" || got.Active || got.Events[0].Name != "before" || len(found) != 1 {
		t.Fatalf("status %s active %v events %+v", got.Status, got.Active, got.Events)
	}
	data := found[0]
	if data["type"] != client.PanicType || data["panic_type"] != "runtime.plainError" ||
		data["message"] != "assignment to entry in nil map" || data["fatal"] != true {
		t.Fatalf("data %v", data)
	}
	frames, _ := stored(t, data)
	n := len(frames)
	want := []client.Frame{
		{Function: "crashes", Module: thisPackage, Line: callLine, InApp: true},
		{Function: "explode", Module: thisPackage, Line: explodeLine, InApp: true},
	}
	for i, f := range frames[n-2:] {
		f.File = ""
		if f != want[i] {
			t.Fatalf("frame %d from the inside: %+v, want %+v (all %+v)", 2-i, f, want[i], frames)
		}
	}
	for _, f := range frames {
		if f.Function == "gopanic" || f.Module == clientPackage {
			t.Fatalf("the panic machinery is in the frames: %+v", f)
		}
	}
}

func TestIntegrationBatchLogErrorAndLogPanicDoNotEndTheSession(t *testing.T) {
	c := client.NewClient(testURL(t))
	ctx := ctxFor(t)
	s, err := c.StartSession(ctx, client.WithProduct("go-frames"),
		client.WithBatchConfig(client.BatchConfig{FlushInterval: 20 * time.Millisecond}))
	ok(t, err)
	errLine := here() + 1
	ok(t, s.LogError(openMissing(), false))
	ok(t, s.LogError(nil, true)) // nothing
	var panicLine int
	func() {
		defer func() {
			if v := recover(); v != nil {
				ok(t, s.LogPanic(v, false))
			}
		}()
		panicLine = here() + 1
		panic(fs.ErrNotExist)
	}()
	ok(t, s.Flush(ctx))
	got, found := exceptions(t, c, s.ID())
	if got.Status != "active" || len(found) != 2 {
		t.Fatalf("status %s, exceptions %v", got.Status, found)
	}
	logged, recovered := found[0], found[1]
	frames, _ := stored(t, logged)
	if inner := frames[len(frames)-1]; logged["type"] != "*fs.PathError" || logged["fatal"] != nil ||
		inner.Function != "TestIntegrationBatchLogErrorAndLogPanicDoNotEndTheSession" || inner.Line != errLine {
		t.Fatalf("logged %v, innermost %+v", logged, inner)
	}
	frames, _ = stored(t, recovered)
	inner := frames[len(frames)-1]
	if recovered["type"] != client.PanicType || recovered["panic_type"] != "*errors.errorString" ||
		recovered["message"] != "file does not exist" || recovered["fatal"] != nil ||
		inner.Function != "TestIntegrationBatchLogErrorAndLogPanicDoNotEndTheSession.func1" ||
		inner.Line != panicLine || !inner.InApp {
		t.Fatalf("recovered %v, innermost %+v", recovered, inner)
	}
	ok(t, s.End(ctx))
}
