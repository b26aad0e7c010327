package faults_test

import (
	"slices"
	"testing"
	"testing/synctest"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// TestFaultLog: a fault's log lines carry the fault attributes in one
// fixed order: fault, id, req, node (when the request names one), peer,
// conn; a daemon-wide fault's activation only fault and id.
func TestFaultLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &logRecorder{}
		b := newLoggedBubble(t, logs, "drop,req=port_please", "delay_write=1,req=names")
		defer b.close()
		for range 3 {
			b.send("127.0.0.1", &epmd.PortPlease2Req{Name: "a1"}).result()
		}
		b.send("10.1.2.3", &epmd.NamesReq{}).result()
		if _, err := b.inj.AddSpec("crash,for=1"); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"fault fired fault=drop,req=port_please id=1 req=port_please node=a1 peer=127.0.0.1 conn=1",
			"fault fired fault=drop,req=port_please id=1 req=port_please node=a1 peer=127.0.0.1 conn=2",
			"fault fired fault=drop,req=port_please id=1 req=port_please node=a1 peer=127.0.0.1 conn=3",
			"fault fired fault=delay_write=1,req=names id=2 req=names peer=10.1.2.3 conn=4",
			"fault fired fault=crash,for=1 id=3",
		}
		if got := logs.matching("fault fired"); !slices.Equal(got, want) {
			t.Errorf("logged\n%q\nwant\n%q", got, want)
		}
	})
}
