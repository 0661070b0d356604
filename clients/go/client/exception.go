package client

// Errors and panics as "exception" events with structured frames (issue 12): the server
// groups exceptions by the type and the package.function of their in-app frames, never by
// line numbers or install paths, so the same bug groups together across builds and hosts.

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// ExceptionEvent is the name of the event an error or a panic is logged as.
const ExceptionEvent = "exception"

// PanicType is the exception type of a recovered panic; the panic value's own type is
// sent as "panic_type".
const PanicType = "panic"

// MaxFrames is how many frames an exception event carries at most: a deeper stack keeps
// its innermost ones (where the error was reported or the panic raised) and says how many
// it left off in "frames_omitted".
const MaxFrames = 100

// Frame is one stack frame of an exception event.
type Frame struct {
	File string `json:"file"`
	Line int    `json:"line"`
	// Function is the function's name within its package ("(*Server).handle", "load.func1").
	Function string `json:"function"`
	// Module is the function's package path ("github.com/acme/shop/cart", "main").
	Module string `json:"module,omitempty"`
	// InApp is false for the standard library (GOROOT), dependencies (the module cache,
	// vendor directories, module@version paths) and this client; true for the
	// application's own code.
	InApp bool `json:"in_app"`
}

// ExceptionData is the data of an "exception" event for err, with the frames of the
// stack that called ExceptionData (a Go error carries no stack of its own):
//
//	{"type": "*fs.PathError", "message": err.Error(), "module": "io/fs",
//	 "traceback": [...], "frames": [{"file", "line", "function", "module", "in_app"}, ...],
//	 "fatal": true}
//
// "type" is err's dynamic type, "module" that type's package (absent for unnamed or
// builtin types), "frames" outermost call first, "traceback" the same stack as a Go panic
// prints it (innermost first), for people. "fatal" is present only when fatal, and marks
// the session crashed. Use it to build a BatchItem (EventItem(id, ExceptionEvent, data));
// LogError and BatchSession.LogError send it for you.
func ExceptionData(err error, fatal bool) map[string]interface{} {
	return errorData(err, fatal, callers(1))
}

func errorData(err error, fatal bool, stack []runtime.Frame) map[string]interface{} {
	message := "<nil>"
	if err != nil {
		message = err.Error()
	}
	name, module := typeOf(err)
	return exceptionData(name, module, message, stack, fatal)
}

// panicData is the data of a fatal-or-not exception event for a recovered panic value,
// with the frames of the panicking goroutine from where it panicked.
func panicData(value interface{}, fatal bool, stack []runtime.Frame) map[string]interface{} {
	data := exceptionData(PanicType, "", fmt.Sprint(value), panicking(stack), fatal)
	data["panic_type"], _ = typeOf(value)
	return data
}

func exceptionData(name, module, message string, stack []runtime.Frame, fatal bool) map[string]interface{} {
	frames, omitted := toFrames(stack, runtime.GOROOT(), mainModule())
	data := map[string]interface{}{
		"type":      name,
		"message":   message,
		"traceback": traceback(name, message, frames),
		"frames":    frames,
	}
	if module != "" {
		data["module"] = module
	}
	if omitted > 0 {
		data["frames_omitted"] = omitted
	}
	if fatal {
		data["fatal"] = true
	}
	return data
}

// typeOf names a value's dynamic type as %T does ("*fs.PathError") and gives the package
// path of the named type behind it ("io/fs"), "" for builtin and unnamed types.
func typeOf(value interface{}) (string, string) {
	if value == nil {
		return "<nil>", ""
	}
	t := reflect.TypeOf(value)
	for t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	return fmt.Sprintf("%T", value), t.PkgPath()
}

// callers is the calling goroutine's stack, innermost first, starting skip frames above
// the function that calls callers.
func callers(skip int) []runtime.Frame {
	pcs := make([]uintptr, 64)
	for {
		n := runtime.Callers(skip+2, pcs)
		if n < len(pcs) {
			pcs = pcs[:n]
			break
		}
		pcs = make([]uintptr, 2*len(pcs))
	}
	if len(pcs) == 0 {
		return nil
	}
	var stack []runtime.Frame
	frames := runtime.CallersFrames(pcs)
	for {
		frame, more := frames.Next()
		stack = append(stack, frame)
		if !more {
			return stack
		}
	}
}

// panicking cuts a stack taken in a deferred function during a panic down to the
// panicking code: the deferred calls, runtime.gopanic and the runtime functions that
// raised it (a nil map write, an index out of range) go. A stack without a panic in it is
// returned whole.
func panicking(stack []runtime.Frame) []runtime.Frame {
	for i, frame := range stack {
		if frame.Function != "runtime.gopanic" {
			continue
		}
		rest := stack[i+1:]
		for len(rest) > 1 && strings.HasPrefix(rest[0].Function, "runtime.") {
			rest = rest[1:]
		}
		return rest
	}
	return stack
}

// toFrames turns a stack (innermost first) into the event's frames (outermost first),
// keeping the innermost MaxFrames, and says how many it left off.
func toFrames(stack []runtime.Frame, goroot, mainPath string) ([]Frame, int) {
	omitted := 0
	if len(stack) > MaxFrames {
		omitted = len(stack) - MaxFrames
		stack = stack[:MaxFrames]
	}
	frames := make([]Frame, len(stack))
	for i, f := range stack {
		module, function := splitFunction(f.Function)
		frames[len(stack)-1-i] = Frame{
			File:     f.File,
			Line:     f.Line,
			Function: function,
			Module:   module,
			InApp:    inApp(f.File, module, goroot, mainPath),
		}
	}
	return frames, omitted
}

// splitFunction splits a runtime function name into its package path and its name within
// the package: "github.com/a/b.(*T).M" is "github.com/a/b" and "(*T).M". The linker
// escapes dots in a package's last path element ("gopkg.in/yaml%2ev3"), so the first dot
// after the last slash ends the package.
func splitFunction(name string) (string, string) {
	slash := strings.LastIndex(name, "/")
	dot := strings.Index(name[slash+1:], ".")
	if dot < 0 {
		return "", name
	}
	end := slash + 1 + dot
	return strings.Replace(name[:end], "%2e", ".", -1), name[end+1:]
}

var ownPackage = reflect.TypeOf(Frame{}).PkgPath()

// inApp judges a frame by its file and package: false for GOROOT, the module cache, vendor
// directories and this client. A relative file (a -trimpath build) is the application's
// only under the main module's path; the standard library ("runtime/panic.go") and
// dependencies ("github.com/x/y@v1.2.0/z.go") are not.
func inApp(file, module, goroot, mainPath string) bool {
	file = strings.Replace(file, "\\", "/", -1)
	if file == "" || module == ownPackage || module == "runtime" {
		return false
	}
	if strings.Contains(file, "/pkg/mod/") || strings.Contains(file, "/vendor/") {
		return false
	}
	if goroot != "" {
		root := strings.TrimRight(strings.Replace(goroot, "\\", "/", -1), "/") + "/"
		if strings.HasPrefix(file, root) {
			return false
		}
	}
	if !strings.HasPrefix(file, "/") && !(len(file) > 2 && file[1] == ':') {
		return mainPath != "" && strings.HasPrefix(file, mainPath+"/") && !strings.Contains(file, "@")
	}
	return true
}

func mainModule() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		return info.Main.Path
	}
	return ""
}

// traceback renders the frames as a Go panic prints a stack, innermost first: a heading
// line, then per frame "package.function" and "\tfile:line".
func traceback(name, message string, frames []Frame) []string {
	lines := make([]string, 0, 1+2*len(frames))
	lines = append(lines, name+": "+message)
	for i := len(frames) - 1; i >= 0; i-- {
		f := frames[i]
		function := f.Function
		if f.Module != "" {
			function = f.Module + "." + function
		}
		lines = append(lines, function, "\t"+f.File+":"+strconv.Itoa(f.Line))
	}
	return lines
}

// LogError logs err as an "exception" event of the session, with the frames of the stack
// that called LogError; fatal marks the session crashed. A nil err logs nothing.
func (c *Client) LogError(ctx context.Context, sessionID string, err error, fatal bool) error {
	if err == nil {
		return nil
	}
	return c.LogEventCtx(ctx, sessionID, ExceptionEvent, errorData(err, fatal, callers(1)))
}

// LogError queues err as an "exception" event, with the frames of the stack that called
// LogError; fatal marks the session crashed. A nil err logs nothing.
func (s *BatchSession) LogError(err error, fatal bool) error {
	if err == nil {
		return nil
	}
	return s.LogEvent(ExceptionEvent, errorData(err, fatal, callers(1)))
}

// LogPanic queues a recovered panic value as an "exception" event of type "panic", with
// the frames of the panicking code. Call it from the deferred function that recovered:
//
//	defer func() {
//		if v := recover(); v != nil {
//			_ = s.LogPanic(v, false) // e.g. an HTTP handler that answers 500 and goes on
//		}
//	}()
func (s *BatchSession) LogPanic(value interface{}, fatal bool) error {
	return s.LogEvent(ExceptionEvent, panicData(value, fatal, callers(1)))
}

// Recover, deferred at the top of main or of a goroutine, turns a panic into a fatal
// "exception" event (type "panic"), ends the session as crashed (delivering everything
// queued, until ctx ends), and panics again with the same value, so the program still
// crashes as it would have and prints its panic. Without a panic it does nothing.
//
//	s, _ := c.StartSession(ctx)
//	defer s.End(ctx)
//	defer s.Recover(ctx) // runs before End: a crash ends the session as crashed
func (s *BatchSession) Recover(ctx context.Context) {
	value := recover()
	if value == nil {
		return
	}
	_ = s.LogEvent(ExceptionEvent, panicData(value, true, callers(0)))
	_ = s.EndAs(ctx, StatusCrashed)
	panic(value)
}
