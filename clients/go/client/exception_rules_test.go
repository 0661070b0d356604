package client

// The pure rules behind exception frames: package/function split, in-app judgement, the
// cut of a panicking stack, the cap. Real stacks are in exception_test.go.

import (
	"reflect"
	"runtime"
	"testing"
)

func TestSplitFunction(t *testing.T) {
	for name, want := range map[string][2]string{
		"main.main":                                      {"main", "main"},
		"main.load.func1":                                {"main", "load.func1"},
		"github.com/acme/shop/cart.(*Cart).Add":          {"github.com/acme/shop/cart", "(*Cart).Add"},
		"gopkg.in/yaml%2ev3.Unmarshal":                   {"gopkg.in/yaml.v3", "Unmarshal"},
		"net/http.HandlerFunc.ServeHTTP":                 {"net/http", "HandlerFunc.ServeHTTP"},
		"runtime.gopanic":                                {"runtime", "gopanic"},
		"github.com/acme/shop/cart.Add[...]":             {"github.com/acme/shop/cart", "Add[...]"},
		"github.com/acme/app.v2/internal/x.(*T).m.func2": {"github.com/acme/app.v2/internal/x", "(*T).m.func2"},
	} {
		module, function := splitFunction(name)
		if [2]string{module, function} != want {
			t.Errorf("%s: %q %q, want %q", name, module, function, want)
		}
	}
}

func TestInApp(t *testing.T) {
	const goroot, mainPath = "/usr/lib/go-1.19", "github.com/acme/shop"
	for _, c := range []struct {
		file, module string
		want         bool
	}{
		{"/srv/shop/cart/cart.go", "github.com/acme/shop/cart", true},
		{"/srv/shop/main.go", "main", true},
		{"/usr/lib/go-1.19/src/encoding/json/decode.go", "encoding/json", false},
		{"/usr/lib/go-1.19-mine/app.go", "main", true}, // a sibling of GOROOT is not it
		{"/root/go/pkg/mod/github.com/lib/pq@v1.10.9/conn.go", "github.com/lib/pq", false},
		{"/srv/shop/vendor/github.com/lib/pq/conn.go", "github.com/lib/pq", false},
		{"/srv/datacat/clients/go/client/session.go", ownPackage, false},
		{"C:\\Users\\me\\go\\pkg\\mod\\github.com\\lib\\pq@v1.10.9\\conn.go", "github.com/lib/pq", false},
		{"C:/src/shop/main.go", "main", true},
		// -trimpath builds: module-relative files
		{"github.com/acme/shop/cart/cart.go", "github.com/acme/shop/cart", true},
		{"runtime/panic.go", "runtime", false},
		{"encoding/json/decode.go", "encoding/json", false},
		{"github.com/lib/pq@v1.10.9/conn.go", "github.com/lib/pq", false},
		{"", "main", false},
	} {
		if got := inApp(c.file, c.module, goroot, mainPath); got != c.want {
			t.Errorf("inApp(%q, %q) = %v, want %v", c.file, c.module, got, c.want)
		}
	}
}

func frame(function string) runtime.Frame {
	return runtime.Frame{Function: function, File: "/srv/app/" + function + ".go", Line: 1}
}

func TestPanickingCutsTheDeferredCallsAndTheRuntime(t *testing.T) {
	stack := []runtime.Frame{
		frame("github.com/datacat/datacat/clients/go/client.(*BatchSession).Recover"),
		frame("runtime.gopanic"),
		frame("runtime.panicmem"),
		frame("runtime.sigpanic"),
		frame("main.explode"),
		frame("main.main"),
		frame("runtime.main"),
	}
	got := panicking(stack)
	if !reflect.DeepEqual(got, stack[4:]) {
		t.Fatalf("cut %v", got)
	}
	if plain := stack[4:]; !reflect.DeepEqual(panicking(plain), plain) {
		t.Fatalf("a stack without a panic changed")
	}
}

func TestToFramesOrderAndCap(t *testing.T) {
	stack := []runtime.Frame{frame("main.inner"), frame("main.middle"), frame("main.main")}
	frames, omitted := toFrames(stack, "/usr/lib/go", "")
	if omitted != 0 || len(frames) != 3 || frames[0].Function != "main" || frames[2].Function != "inner" {
		t.Fatalf("frames %+v omitted %d", frames, omitted)
	}
	deep := make([]runtime.Frame, MaxFrames+7)
	for i := range deep {
		deep[i] = frame("main.recurse")
	}
	deep[0] = frame("main.innermost")
	frames, omitted = toFrames(deep, "/usr/lib/go", "")
	if omitted != 7 || len(frames) != MaxFrames || frames[MaxFrames-1].Function != "innermost" {
		t.Fatalf("deep: %d frames, %d omitted, innermost %+v", len(frames), omitted, frames[MaxFrames-1])
	}
}
