package faults_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		spec      string
		want      faults.Fault
		canonical string
	}{
		{name: "bare seconds", spec: "delay_write=5", want: faults.Fault{Action: faults.DelayWrite{D: 5 * time.Second}}, canonical: "delay_write=5"},
		{name: "go duration", spec: "delay_accept=200ms", want: faults.Fault{Action: faults.DelayAccept{D: 200 * time.Millisecond}}, canonical: "delay_accept=200ms"},
		{name: "go duration in whole seconds", spec: "packet_timeout=1m", want: faults.Fault{Action: faults.PacketTimeout{D: time.Minute}}, canonical: "packet_timeout=60"},
		{name: "stall", spec: "stall=1.5s", want: faults.Fault{Action: faults.Stall{D: 1500 * time.Millisecond}}, canonical: "stall=1.5s"},
		{name: "drop with every selector", spec: " drop , req=port_please|names , node=a* , peer=10.1.2.3/8 , p=0.25 , first=3 , every=2 , after=1 , start=10 , for=500ms ",
			want: faults.Fault{Action: faults.Drop{}, Selector: faults.Selector{
				Req: faults.Reqs(epmd.KindPortPlease2, epmd.KindNames), Node: "a*", Peer: netip.MustParsePrefix("10.0.0.0/8"),
				P: 0.25, First: 3, Every: 2, After: 1, Start: 10 * time.Second, For: 500 * time.Millisecond}},
			canonical: "drop,req=port_please|names,node=a*,peer=10.0.0.0/8,p=0.25,first=3,every=2,after=1,start=10,for=500ms"},
		{name: "req order canonical", spec: "reset,req=stop|accept", want: faults.Fault{Action: faults.Reset{}, Selector: faults.Selector{Req: faults.Reqs(epmd.KindAccept, epmd.KindStop)}}, canonical: "reset,req=accept|stop"},
		{name: "peer address", spec: "hang,peer=::1", want: faults.Fault{Action: faults.Hang{}, Selector: faults.Selector{Peer: netip.MustParsePrefix("::1/128")}}, canonical: "hang,peer=::1/128"},
		{name: "partial_write then close is the default", spec: "partial_write=3,then=close", want: faults.Fault{Action: faults.PartialWrite{N: 3}}, canonical: "partial_write=3"},
		{name: "partial_write then reset", spec: "partial_write=0,then=reset", want: faults.Fault{Action: faults.PartialWrite{N: 0, Then: "reset"}}, canonical: "partial_write=0,then=reset"},
		{name: "slice gap", spec: "slice=1,gap=100ms", want: faults.Fault{Action: faults.Slice{N: 1, Gap: 100 * time.Millisecond}}, canonical: "slice=1,gap=100ms"},
		{name: "corrupt port", spec: "corrupt=port=4000", want: faults.Fault{Action: faults.Corrupt{Mode: "port", Port: 4000}}, canonical: "corrupt=port=4000"},
		{name: "corrupt random", spec: "corrupt=random,req=names", want: faults.Fault{Action: faults.Corrupt{Mode: "random"}, Selector: faults.Selector{Req: faults.Reqs(epmd.KindNames)}}, canonical: "corrupt=random,req=names"},
		{name: "corrupt names_port", spec: "corrupt=names_port,req=names", want: faults.Fault{Action: faults.Corrupt{Mode: "names_port"}, Selector: faults.Selector{Req: faults.Reqs(epmd.KindNames)}}, canonical: "corrupt=names_port,req=names"},
		{name: "corrupt version", spec: "corrupt=version=07:0", want: faults.Fault{Action: faults.Corrupt{Mode: "version", High: 7, Low: 0}}, canonical: "corrupt=version=7:0"},
		{name: "phantom list", spec: "phantom=ghost:09100;a:b:1", want: faults.Fault{Action: faults.Phantom{List: "ghost:9100;a:b:1"}}, canonical: "phantom=ghost:9100;a:b:1"},
		// The longest names: 255 characters, and 255 four-byte ones (1020 bytes).
		{name: "phantom name of 255 characters", spec: "phantom=" + strings.Repeat("a", 255) + ":1", want: faults.Fault{Action: faults.Phantom{List: strings.Repeat("a", 255) + ":1"}}, canonical: "phantom=" + strings.Repeat("a", 255) + ":1"},
		{name: "phantom name of 1020 bytes", spec: "phantom=" + strings.Repeat("\U0001F600", 255) + ":1", want: faults.Fault{Action: faults.Phantom{List: strings.Repeat("\U0001F600", 255) + ":1"}}, canonical: "phantom=" + strings.Repeat("\U0001F600", 255) + ":1"},
		{name: "phantom count", spec: "phantom=10000,req=names", want: faults.Fault{Action: faults.Phantom{N: 10000}, Selector: faults.Selector{Req: faults.Reqs(epmd.KindNames)}}, canonical: "phantom=10000,req=names"},
		{name: "port_collision", spec: "port_collision,port=4370", want: faults.Fault{Action: faults.PortCollision{Port: 4370}}, canonical: "port_collision,port=4370"},
		{name: "name_in_use", spec: "name_in_use,node=a*", want: faults.Fault{Action: faults.NameInUse{}, Selector: faults.Selector{Node: "a*"}}, canonical: "name_in_use,node=a*"},
		{name: "hold_ports range", spec: "hold_ports=9100-9105", want: faults.Fault{Action: faults.HoldPorts{Lo: 9100, Hi: 9105}}, canonical: "hold_ports=9100-9105"},
		{name: "hold_ports one", spec: "hold_ports=9100-9100", want: faults.Fault{Action: faults.HoldPorts{Lo: 9100, Hi: 9100}}, canonical: "hold_ports=9100"},
		{name: "stale", spec: "stale=30", want: faults.Fault{Action: faults.Stale{D: 30 * time.Second}}, canonical: "stale=30"},
		{name: "forget names", spec: "forget,node=b*,req=names", want: faults.Fault{Action: faults.Forget{}, Selector: faults.Selector{Node: "b*", Req: faults.Reqs(epmd.KindNames)}}, canonical: "forget,req=names,node=b*"},
		{name: "creation", spec: "creation=4294967295", want: faults.Fault{Action: faults.Creation{N: 4294967295}}, canonical: "creation=4294967295"},
		{name: "crash window", spec: "crash,start=5,for=10", want: faults.Fault{Action: faults.Crash{}, Selector: faults.Selector{Start: 5 * time.Second, For: 10 * time.Second}}, canonical: "crash,start=5,for=10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := faults.Parse(tt.spec)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.spec, err)
			}
			if f != tt.want {
				t.Errorf("Parse(%q) = %#v, want %#v", tt.spec, f, tt.want)
			}
			if s := f.String(); s != tt.canonical {
				t.Errorf("String() = %q, want %q", s, tt.canonical)
			}
			if g, err := faults.Parse(f.String()); err != nil || g != f {
				t.Errorf("Parse(String()) = %#v, %v; want %#v", g, err, f)
			}
		})
	}
}

// TestKindsAllParse: every kind Kinds lists has an entry in the table
// whose example parses to a fault of that kind.
func TestKindsAllParse(t *testing.T) {
	table := faults.KindTable()
	names := faults.Kinds()
	if len(names) != len(table) {
		t.Fatalf("Kinds() lists %d kinds, the table %d", len(names), len(table))
	}
	for i, k := range names {
		f, err := faults.Parse(table[i].Example)
		if table[i].Name != k || err != nil || f.Kind() != k {
			t.Errorf("kind %q: table entry %q, example %q parses to %v, %v", k, table[i].Name, table[i].Example, f, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		spec string
		key  string
		msg  string
	}{
		{name: "empty", spec: "", key: "spec", msg: "empty; want KIND[=ARG][,KEY=VALUE]..."},
		{name: "unknown kind", spec: "delay=5", key: "kind", msg: `unknown fault "delay"; want ` + strings.Join(faults.Kinds(), "|")},
		{name: "no kind", spec: "=5", key: "kind", msg: `missing before "=5"; want KIND[=ARG][,KEY=VALUE]...`},
		{name: "bad duration", spec: "delay_write=abc", key: "duration", msg: "want seconds (5) or a Go duration (200ms)"},
		{name: "negative duration", spec: "delay_write=-5s", key: "duration", msg: "negative; want seconds (5) or a Go duration (200ms)"},
		{name: "zero duration", spec: "stale=0", key: "duration", msg: "must be more than 0; want seconds (5) or a Go duration (200ms)"},
		{name: "huge seconds", spec: "stall=99999999999999", key: "duration", msg: "too large; want seconds (5) or a Go duration (200ms)"},
		{name: "missing argument", spec: "delay_write", key: "duration", msg: "missing; want delay_write=DUR"},
		{name: "empty argument", spec: "slice=", key: "bytes", msg: "empty; want slice=N[,gap=DUR]"},
		{name: "unexpected argument", spec: "drop=5", key: "drop", msg: "takes no argument; want drop"},
		{name: "bad bytes", spec: "partial_write=x", key: "bytes", msg: "want a whole number from 0 to 2147483647"},
		{name: "slice zero", spec: "slice=0", key: "bytes", msg: "want a whole number from 1 to 2147483647"},
		{name: "bad then", spec: "partial_write=3,then=explode", key: "then", msg: "want close, hang or reset"},
		{name: "bad gap", spec: "slice=1,gap=soon", key: "gap", msg: "want seconds (5) or a Go duration (200ms)"},
		{name: "bad corrupt mode", spec: "corrupt=bits", key: "mode", msg: "want result, random, port=N, names_port or version=H:L"},
		{name: "bad corrupt port", spec: "corrupt=port=70000", key: "mode", msg: "port=N wants a port from 0 to 65535"},
		{name: "corrupt port without value", spec: "corrupt=port", key: "mode", msg: "port=N wants a port from 0 to 65535"},
		{name: "corrupt result with value", spec: "corrupt=result=1", key: "mode", msg: "result takes no value; want result, random, port=N, names_port or version=H:L"},
		{name: "corrupt names_port with value", spec: "corrupt=names_port=4370", key: "mode", msg: "names_port takes no value; want result, random, port=N, names_port or version=H:L"},
		{name: "corrupt names_port without names", spec: "corrupt=names_port,req=port_please|dump", key: "req", msg: "corrupt=names_port changes NAMES replies only; want names in req= (or no req=)"},
		{name: "corrupt version one number", spec: "corrupt=version=6", key: "mode", msg: "version=H:L wants PORT2_RESP's HighestVersion and LowestVersion, each from 0 to 65535, joined by a colon (version=7:7)"},
		{name: "corrupt version too high", spec: "corrupt=version=6:65536", key: "mode", msg: "version=H:L wants PORT2_RESP's HighestVersion and LowestVersion, each from 0 to 65535, joined by a colon (version=7:7)"},
		{name: "corrupt version no value", spec: "corrupt=version", key: "mode", msg: "version=H:L wants PORT2_RESP's HighestVersion and LowestVersion, each from 0 to 65535, joined by a colon (version=7:7)"},
		{name: "corrupt version comma is a key separator", spec: "corrupt=version=6,5", key: "5", msg: "unknown key; want req|node|peer|p|first|every|after|start|for"},
		{name: "corrupt version without port_please", spec: "corrupt=version=6:6,req=names", key: "req", msg: "corrupt=version changes PORT2_RESP only; want port_please in req= (or no req=)"},
		{name: "phantom zero", spec: "phantom=0", key: "names", msg: "phantom=N wants a count from 1 to 50000"},
		{name: "phantom too many", spec: "phantom=50001", key: "names", msg: "phantom=N wants a count from 1 to 50000"},
		{name: "phantom no port", spec: "phantom=a:1;b", key: "names", msg: `entry "b": want NAME:PORT (several joined by ;) or a count from 1 to 50000`},
		{name: "phantom empty entry", spec: "phantom=a:1;;b:2", key: "names", msg: "empty entry; want NAME:PORT (several joined by ;) or a count from 1 to 50000"},
		{name: "phantom trailing separator", spec: "phantom=a:1;", key: "names", msg: "empty entry; want NAME:PORT (several joined by ;) or a count from 1 to 50000"},
		{name: "phantom name with space", spec: "phantom=a b:1", key: "names", msg: `entry "a b:1": NAME wants 1 to 255 characters (at most 1020 bytes), no space or control character`},
		{name: "phantom name of 256 characters", spec: "phantom=" + strings.Repeat("a", 256) + ":1", key: "names", msg: `entry "` + strings.Repeat("a", 256) + `:1": NAME wants 1 to 255 characters (at most 1020 bytes), no space or control character`},
		{name: "phantom empty name", spec: "phantom=:1", key: "names", msg: `entry ":1": NAME wants 1 to 255 characters (at most 1020 bytes), no space or control character`},
		{name: "phantom bad port", spec: "phantom=a:70000", key: "names", msg: `entry "a:70000": PORT wants a whole number from 0 to 65535`},
		{name: "phantom name twice", spec: "phantom=a:1;a:2", key: "names", msg: `name "a" given twice`},
		{name: "phantom on dump", spec: "phantom=a:1,req=dump", key: "req", msg: "phantom cannot act on dump; want port_please|names"},
		{name: "bad collision port", spec: "port_collision,port=0", key: "port", msg: "want a whole number from 1 to 65535"},
		{name: "bad range", spec: "hold_ports=9-3", key: "range", msg: "want LO-HI (or one port) with 1 <= LO <= HI <= 65535"},
		{name: "range too big", spec: "hold_ports=1-65535", key: "range", msg: "at most 4096 ports"},
		{name: "bad creation", spec: "creation=-1", key: "creation", msg: "want a whole number from 0 to 4294967295"},
		{name: "unknown key", spec: "drop,nod=a", key: "nod", msg: "unknown key; want req|node|peer|p|first|every|after|start|for"},
		{name: "unknown key lists kind keys", spec: "slice=1,then=x", key: "then", msg: "unknown key; want gap|req|node|peer|p|first|every|after|start|for"},
		{name: "key without value", spec: "drop,req", key: "req", msg: "missing value; want req=VALUE"},
		{name: "empty value", spec: "drop,node=", key: "node", msg: "empty value"},
		{name: "empty part", spec: "drop,,req=names", key: "spec", msg: "empty part between commas; want KIND[=ARG][,KEY=VALUE]..."},
		{name: "missing key", spec: "reset,=x", key: "spec", msg: `missing key before "=x"; want KEY=VALUE`},
		{name: "duplicate key", spec: "drop,first=1,first=2", key: "first", msg: "given twice"},
		{name: "unknown request", spec: "drop,req=lookup", key: "req", msg: `unknown request "lookup"; want accept|alive2|port_please|names|dump|kill|stop (several joined by |)`},
		{name: "request kind cannot take", spec: "name_in_use,req=names", key: "req", msg: "name_in_use cannot act on names; want alive2"},
		{name: "delay_accept only at accept", spec: "delay_accept=1,req=names", key: "req", msg: "delay_accept cannot act on names; want accept"},
		{name: "node where no node name", spec: "drop,req=names,node=a*", key: "node", msg: "no node name in req=names; node= needs alive2|port_please|stop"},
		{name: "node at accept", spec: "delay_accept=1,node=a*", key: "node", msg: "delay_accept acts before any node name is known; node= does not apply"},
		{name: "bad glob", spec: "drop,node=[a", key: "node", msg: `bad glob "[a" (want *, ?, [a-z] and \ escapes)`},
		{name: "bad peer", spec: "drop,peer=10.0.0.0/33", key: "peer", msg: "want a CIDR (10.0.0.0/8) or an address (127.0.0.1, ::1)"},
		{name: "bad peer host", spec: "drop,peer=localhost", key: "peer", msg: "want a CIDR (10.0.0.0/8) or an address (127.0.0.1, ::1)"},
		{name: "p zero", spec: "drop,p=0", key: "p", msg: "want a probability in (0, 1], e.g. 0.25"},
		{name: "p above one", spec: "drop,p=1.5", key: "p", msg: "want a probability in (0, 1], e.g. 0.25"},
		{name: "p NaN", spec: "drop,p=NaN", key: "p", msg: "want a probability in (0, 1], e.g. 0.25"},
		{name: "first zero", spec: "drop,first=0", key: "first", msg: "want a whole number from 1 to 2147483647"},
		{name: "every signed", spec: "drop,every=+2", key: "every", msg: "want a whole number from 1 to 2147483647"},
		{name: "after negative", spec: "drop,after=-1", key: "after", msg: "want a whole number from 0 to 2147483647"},
		{name: "bad start", spec: "drop,start=later", key: "start", msg: "want seconds (5) or a Go duration (200ms)"},
		{name: "for zero", spec: "drop,for=0", key: "for", msg: "must be more than 0; want seconds (5) or a Go duration (200ms)"},
		{name: "daemon kind with request selector", spec: "crash,req=accept", key: "req", msg: "crash acts on the whole daemon; only start= and for= apply"},
		{name: "hold_ports with p", spec: "hold_ports=9000,p=0.5", key: "p", msg: "hold_ports acts on the whole daemon; only start= and for= apply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := faults.Parse(tt.spec)
			var se *faults.SpecError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error = %v, want a *SpecError", tt.spec, err)
			}
			if se.Spec != tt.spec || se.Key != tt.key || se.Msg != tt.msg {
				t.Errorf("Parse(%q) = {Key: %q, Msg: %q}, want {Key: %q, Msg: %q}", tt.spec, se.Key, se.Msg, tt.key, tt.msg)
			}
		})
	}
	// The full message, as the command line prints it after "chaos-epmd: -".
	_, err := faults.Parse("delay_write=abc")
	if want := `fault "delay_write=abc": duration: want seconds (5) or a Go duration (200ms)`; err == nil || err.Error() != want {
		t.Errorf("Error() = %v, want %s", err, want)
	}
}

// TestMustParse: a valid spec gives what Parse gives; a bad one panics
// with Parse's *SpecError, whose message names the spec.
func TestMustParse(t *testing.T) {
	if f := faults.MustParse("drop,req=names"); f.String() != "drop,req=names" {
		t.Errorf("MustParse(drop,req=names) = %q", f)
	}
	defer func() {
		r := recover()
		if r == nil {
			return // reported below
		}
		se, ok := r.(*faults.SpecError)
		if want := `fault "hang,first=0": first: want a whole number from 1 to 2147483647`; !ok || se.Error() != want {
			t.Errorf("MustParse(hang,first=0) panicked with %#v, want the SpecError %s", r, want)
		}
	}()
	faults.MustParse("hang,first=0")
	t.Error("MustParse(hang,first=0) returned; want a panic")
}

func TestParseList(t *testing.T) {
	fs, err := faults.ParseList(strings.NewReader("# faults\n\ndelay_write=1  # slow\n  drop,req=names\n"))
	if err != nil || len(fs) != 2 || fs[0].String() != "delay_write=1" || fs[1].String() != "drop,req=names" {
		t.Fatalf("ParseList = %v, %v", fs, err)
	}
	_, err = faults.ParseList(strings.NewReader("drop\n\nbogus\n"))
	var se *faults.SpecError
	if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), "line 3: ") {
		t.Errorf("ParseList error = %v, want line 3 and a *SpecError", err)
	}
}

// FuzzParse: whatever parses prints a canonical spec that parses back to
// the same fault, and printing is stable.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"delay_write=5", "delay_accept=200ms", "packet_timeout=1", "stall=1.5s,first=1",
		"drop,req=accept", "reset,req=alive2|names,peer=10.0.0.0/8", "hang,node=a*",
		"partial_write=3,then=hang,req=port_please", "slice=1,gap=100ms", "corrupt=port=4000",
		"corrupt=result,p=0.5", "port_collision,port=1", "name_in_use,node=a*", "hold_ports=9000-9010",
		"stale=30,node=x?", "forget,node=[ab]*", "creation=7", "crash,start=1,for=2",
		"drop,every=3,after=2,first=10,start=1m,for=1h", "delay_write=1,p=1e-3",
	} {
		f.Add(s)
	}
	for _, k := range faults.KindTable() {
		f.Add(k.Example)
		f.Add(k.Bad)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		fault, err := faults.Parse(spec)
		if err != nil {
			var se *faults.SpecError
			if !errors.As(err, &se) || se.Key == "" || se.Msg == "" {
				t.Fatalf("Parse(%q) error %v is not a complete *SpecError", spec, err)
			}
			return
		}
		s := fault.String()
		again, err := faults.Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse(String() = %q): %v", spec, s, err)
		}
		if again != fault { // Fault is comparable: TestKindTable checks every Action type
			t.Fatalf("Parse(%q) = %#v, Parse(%q) = %#v", spec, fault, s, again)
		}
		if again.String() != s {
			t.Fatalf("String not stable: %q then %q", s, again.String())
		}
	})
}
