package main_test

import (
	"strings"
)

// ---------------------------------------------------------------------------
// Cases: §1 PORT_PLEASE2 (shared strict server)

func port2Cases() []conformanceCase {
	regThen := func(name string, lookups ...string) func(s *session) {
		return func(s *session) {
			c := s.register("reg", alive2{name: name, hi: 6, extra: "xyz"})
			for _, l := range lookups {
				s.lookup(l)
			}
			c.close()
		}
	}
	raw := func(tag string, body []byte) func(s *session) {
		return func(s *session) { s.request(tag, frame(body)) }
	}
	n254 := "p254" + strings.Repeat("b", 250)
	n255 := "p255" + strings.Repeat("b", 251)
	return []conformanceCase{
		{name: "port2_found", run: regThen("p2found", "p2found")},
		{name: "port2_trailing_nul_stripped", run: regThen("p2nul", "p2nul\x00")},
		{name: "port2_two_trailing_nuls_dropped", run: regThen("p2nul2", "p2nul2\x00\x00")},
		{name: "port2_nul_inside_dropped", run: regThen("p2in", "p2\x00in")},
		{name: "port2_unknown_w01", run: func(s *session) { s.lookup("nosuchnode") }},
		{name: "port2_unknown_case_differs_w01", run: regThen("P2Case", "p2case")},
		{name: "port2_prefix_is_not_a_match", run: regThen("p2prefix", "p2pre", "p2prefixx")},
		{name: "port2_empty_dropped", run: raw("z", []byte{'z'})},
		{name: "port2_only_nul_dropped", run: raw("z0", []byte{'z', 0})},
		{name: "port2_254_chars_found", run: regThen(n254, n254, n254+"\x00")},
		{name: "port2_255_chars_registered_but_dropped", run: regThen(n255, n255, n255+"\x00")},
		{name: "port2_255_chars_unknown_dropped", run: func(s *session) { s.lookup("q255" + strings.Repeat("c", 251)) }},
		{name: "port2_254_chars_unknown_w01", run: func(s *session) { s.lookup("q254" + strings.Repeat("c", 250)) }},
		{name: "port2_254_2byte_chars_found", run: regThen(strings.Repeat("\u00e9", 254), strings.Repeat("\u00e9", 254))},
		{name: "port2_254_4byte_chars_found", run: regThen(strings.Repeat("\U0001F604", 254), strings.Repeat("\U0001F604", 254))},
		{name: "port2_1000_bytes_dropped", run: func(s *session) { s.lookup(strings.Repeat("d", 1000)) }},
		{name: "port2_invalid_utf8_dropped", run: func(s *session) {
			for _, u := range utf8Classes {
				if !u.valid {
					s.lookup("p2" + u.bytes)
				}
			}
		}},
		{name: "port2_valid_utf8_unknown_w01", run: func(s *session) {
			for _, u := range utf8Classes {
				if u.valid {
					s.lookup("p2" + u.bytes)
				}
			}
		}},
		{name: "port2_extra_1020_and_nuls_returned", run: func(s *session) {
			c := s.register("reg", alive2{name: "p2extra", hi: 6, extra: strings.Repeat("\x00e", 510)})
			s.lookup("p2extra")
			c.close()
		}},
		{name: "port2_after_unregister_w01", run: func(s *session) {
			c := s.register("reg", alive2{name: "p2gone", hi: 6})
			c.close()
			s.waitUnregistered("p2gone")
			s.lookup("p2gone")
		}},
	}
}
