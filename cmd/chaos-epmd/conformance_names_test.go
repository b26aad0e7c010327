package main_test

// ---------------------------------------------------------------------------
// Fresh cases: NAMES contents, the empty name

func namesFreshCases() []conformanceCase {
	return []conformanceCase{
		{name: "names_newest_first", run: func(s *session) {
			var cs []*conn
			for i, n := range []string{"alpha", "beta", "gamma"} {
				cs = append(cs, s.register(n, alive2{name: n, port: 4711 + i, hi: 6}))
			}
			s.request("names", namesReq)
			cs[1].close()
			s.waitUnregistered("beta")
			s.request("names", namesReq)
			cs = append(cs, s.register("beta again", alive2{name: "beta", port: 5000, hi: 5}))
			s.request("names", namesReq)
			for _, c := range cs {
				c.close()
			}
		}},
		{name: "names_raw_name_bytes", run: func(s *session) {
			a := s.register("reg1", alive2{name: "x\ny", hi: 6})
			b := s.register("reg2", alive2{name: "sp ace@h\u00e9", hi: 6, port: 65535})
			c := s.register("reg3", alive2{name: "port0", hi: 6, port: 65536})
			s.request("names", namesReq)
			a.close()
			b.close()
			c.close()
		}},
		{name: "names_excludes_failed_registrations", run: func(s *session) {
			a := s.register("reg", alive2{name: "only", hi: 6})
			b := s.register("dup", alive2{name: "only", hi: 6})
			s.request("names", namesReq)
			a.close()
			b.close()
		}},
		{name: "empty_name_with_padding_registers", run: func(s *session) {
			c := s.dial("reg")
			s.alive2On(c, "", frame(alive2{name: "", hi: 6}.body(), []byte{0}))
			s.request("names", namesReq)
			s.request("port2 empty", frame([]byte{'z'}))
			s.request("dump", dumpReq)
			c2 := s.dial("dup")
			s.alive2On(c2, "", frame(alive2{name: "", hi: 6}.body(), []byte("pad")))
			c.close()
			c2.close()
		}},
		{name: "empty_name_stop_relaxed", server: &relaxed, run: func(s *session) {
			c := s.dial("reg")
			s.alive2On(c, "", frame(alive2{name: "", hi: 6}.body(), []byte{0}))
			s.request("stop empty", stopReq("\x00"))
			c.reply()
			s.request("names", namesReq)
		}},
	}
}
