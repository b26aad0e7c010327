package main_test

import (
	"strings"
)

// ---------------------------------------------------------------------------
// Cases: §1 STOP

func stopStrictCases() []conformanceCase {
	return []conformanceCase{
		{name: "stop_without_relaxed_dropped", run: func(s *session) {
			c := s.register("reg", alive2{name: "nostop", hi: 6})
			s.request("stop", stopReq("nostop"))
			s.lookup("nostop")
			c.close()
		}},
		{name: "stop_unknown_without_relaxed_dropped", run: func(s *session) { s.request("stop", stopReq("nosuch")) }},
		{name: "stop_empty_without_relaxed_dropped", run: func(s *session) { s.request("stop", frame([]byte{'s'})) }},
	}
}

func stopRelaxedCases() []conformanceCase {
	return []conformanceCase{
		{name: "stop_registered_stopped", run: func(s *session) {
			c := s.register("reg", alive2{name: "tostop", hi: 6})
			s.request("stop", stopReq("tostop"))
			c.reply() // epmd closes the node's registration connection
			s.lookup("tostop")
		}},
		{name: "stop_unknown_noexiststopped", run: func(s *session) { s.request("stop", stopReq("nosuchnode")) }},
		{name: "stop_empty_dropped", run: func(s *session) { s.request("stop", frame([]byte{'s'})) }},
		{name: "stop_nul_terminated_name", run: func(s *session) {
			c := s.register("reg", alive2{name: "stopnul", hi: 6})
			s.request("stop", stopReq("stopnul\x00"))
			c.reply()
		}},
		{name: "stop_name_cut_at_nul", run: func(s *session) {
			c := s.register("reg", alive2{name: "stopcut", hi: 6})
			s.request("stop", stopReq("stopcut\x00tail"))
			c.reply()
		}},
		{name: "stop_invalid_utf8_noexist", run: func(s *session) { s.request("stop", stopReq("\xff\xfe")) }},
		{name: "stop_long_name_noexist", run: func(s *session) { s.request("stop", stopReq(strings.Repeat("s", 3000))) }},
		{name: "stop_case_differs_noexist", run: func(s *session) {
			c := s.register("reg", alive2{name: "StopCase", hi: 6})
			s.request("stop", stopReq("stopcase"))
			s.lookup("StopCase")
			c.close()
		}},
		{name: "stop_then_reregister_bumps_creation", run: func(s *session) {
			c := s.register("reg1", alive2{name: "stopbump", hi: 6})
			s.request("stop", stopReq("stopbump"))
			c.reply()
			s.register("reg2", alive2{name: "stopbump", hi: 6}).close()
		}},
		{name: "stop_twice", run: func(s *session) {
			c := s.register("reg", alive2{name: "stop2x", hi: 6})
			s.request("stop1", stopReq("stop2x"))
			s.request("stop2", stopReq("stop2x"))
			c.reply()
		}},
	}
}

// ---------------------------------------------------------------------------
// Fresh cases: DUMP contents, KILL

func dumpKillFreshCases() []conformanceCase {
	return []conformanceCase{
		{name: "dump_format", run: func(s *session) {
			gone := s.register("gone", alive2{name: "gone", hi: 6, port: 3000})
			gone.close()
			s.waitUnregistered("gone")
			a := s.register("a", alive2{name: "dumpa", hi: 6, port: 3001})
			b := s.register("b", alive2{name: "dumpb", hi: 5, port: 3002})
			s.request("dump", dumpReq)
			a.close()
			b.close()
		}},
		{name: "dump_unregistered_oldest_first", run: func(s *session) {
			for _, n := range []string{"old1", "old2", "old3"} {
				s.register(n, alive2{name: n, hi: 6}).close()
				s.waitUnregistered(n)
			}
			s.register("old2 again", alive2{name: "old2", hi: 6}).close()
			s.waitUnregistered("old2")
			s.request("dump", dumpReq)
			s.request("dump with junk", frame([]byte("d\x00junk")))
		}},
		{name: "kill_no_nodes_ok_and_exit_0", run: func(s *session) {
			s.request("kill", killReq)
			s.serverState(replyTimeout)
		}},
		{name: "kill_with_junk_ok", run: func(s *session) {
			s.request("kill", frame([]byte("k\x00junk")))
			s.serverState(replyTimeout)
		}},
		{name: "kill_with_live_node_no", run: func(s *session) {
			c := s.register("reg", alive2{name: "alive", hi: 6})
			s.request("kill", killReq)
			s.request("names", namesReq)
			c.close()
			s.waitUnregistered("alive")
			s.request("kill after unregister", killReq)
			s.serverState(replyTimeout)
		}},
		{name: "kill_relaxed_with_live_node_ok", server: &relaxed, run: func(s *session) {
			c := s.register("reg", alive2{name: "alive", hi: 6})
			s.request("kill", killReq)
			s.serverState(replyTimeout)
			c.reply()
		}},
		{name: "kill_with_failed_registration_only_ok", run: func(s *session) {
			// A failed ALIVE2 keeps its connection but registers nothing.
			c := s.register("reg", alive2{name: "bad\xff", hi: 6})
			s.request("kill", killReq)
			s.serverState(replyTimeout)
			c.close()
		}},
	}
}
