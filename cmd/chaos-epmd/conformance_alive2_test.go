package main_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"
)

// ---------------------------------------------------------------------------
// Cases: §1 ALIVE2, §3 registration lifetime and creation (shared strict server)

func requestCases() []conformanceCase {
	reg := func(tag string, a alive2) conformanceCase {
		return conformanceCase{name: tag, run: func(s *session) { s.register(tag, a).close() }}
	}
	cases := []conformanceCase{
		reg("alive2_v5_reply_y", alive2{name: "v5a", hi: 5}),
		reg("alive2_v6_reply_v", alive2{name: "v6a", hi: 6, lo: 6}),
		reg("alive2_v7_reply_v", alive2{name: "v7a", hi: 7, lo: 5}),
		reg("alive2_v0_reply_y", alive2{name: "v0a", hi: 0}),
		reg("alive2_v65535_reply_v", alive2{name: "vmax", hi: 65535, lo: 1}),
		reg("alive2_lowvsn_above_highvsn", alive2{name: "lohi", hi: 5, lo: 9}),
		reg("alive2_name_with_space_at_newline", alive2{name: "a b@c\nd", hi: 6}),
		reg("alive2_name_255_ascii", alive2{name: "n255" + strings.Repeat("a", 251), hi: 6}),
		reg("alive2_name_256_ascii_error", alive2{name: "n256" + strings.Repeat("a", 252), hi: 6}),
		reg("alive2_name_256_ascii_error_v5", alive2{name: "m256" + strings.Repeat("a", 252), hi: 5}),
		reg("alive2_name_255_chars_1020_bytes", alive2{name: strings.Repeat("\U0001F600", 254) + "\U0001F601", hi: 6}),
		reg("alive2_name_255_chars_765_bytes", alive2{name: strings.Repeat("\u20ac", 254) + "\u20ad", hi: 6}),
		reg("alive2_name_256_chars_1024_bytes_error", alive2{name: strings.Repeat("\U0001F602", 256), hi: 6}),
		reg("alive2_name_1021_bytes_error", alive2{name: strings.Repeat("\U0001F603", 255) + "b", hi: 6}),
		reg("alive2_extra_1020", alive2{name: "extra1020", hi: 6, extra: strings.Repeat("e", 1020)}),
		reg("alive2_extra_1021_error", alive2{name: "extra1021", hi: 6, extra: strings.Repeat("e", 1021)}),
		reg("alive2_fields_not_validated", alive2{name: "fields", port: 65535, ntype: 0xff, proto: 0x7f, hi: 6, lo: 6}),
		reg("alive2_port_zero", alive2{name: "portzero", port: 65536, hi: 6}),
		{name: "alive2_port2_echoes_all_fields", run: func(s *session) {
			c := s.register("reg", alive2{name: "echo", port: 0x1234, ntype: 72, proto: 1, hi: 6, lo: 5, extra: "\x00x\x00\xff"})
			s.lookup("echo")
			c.close()
		}},
		{name: "alive2_nul_inside_name_dropped", run: func(s *session) {
			s.register("reg", alive2{name: "foo\x00bar", hi: 6}).close()
			s.lookup("foo")
		}},
		{name: "alive2_nul_terminated_name_dropped", run: func(s *session) {
			s.register("reg", alive2{name: "nulterm\x00", hi: 5}).close()
			s.lookup("nulterm")
		}},
		{name: "alive2_trailing_bytes_ignored", run: func(s *session) {
			c := s.dial("reg")
			s.alive2On(c, "trail", frame(alive2{name: "trail", hi: 6}.body(), []byte("junk after extra")))
			s.lookup("trail")
			c.close()
		}},
		{name: "alive2_body_1_byte_dropped", run: func(s *session) { s.request("x", frame([]byte{'x'})) }},
		{name: "alive2_body_13_bytes_dropped", run: func(s *session) {
			// Nlen=0, Elen=0, no padding: bsize == 13.
			s.request("x13", frame(alive2{name: "", hi: 6}.body()))
		}},
		{name: "alive2_body_12_bytes_dropped", run: func(s *session) {
			s.request("x12", frame(alive2{name: "", hi: 6}.body()[:12]))
		}},
		{name: "alive2_nlen_beyond_packet_dropped", run: func(s *session) {
			b := alive2{name: "nlenbig", hi: 6}.body()
			binary.BigEndian.PutUint16(b[9:], 50)
			s.request("x", frame(b))
			s.lookup("nlenbig")
		}},
		{name: "alive2_elen_beyond_packet_dropped", run: func(s *session) {
			b := alive2{name: "elenbig", hi: 6, extra: "ab"}.body()
			binary.BigEndian.PutUint16(b[11+7:], 10)
			s.request("x", frame(b))
			s.lookup("elenbig")
		}},
		{name: "alive2_missing_elen_dropped", run: func(s *session) {
			b := alive2{name: "noelen", hi: 6}.body()
			s.request("x", frame(b[:len(b)-2]))
			s.lookup("noelen")
		}},
		{name: "alive2_missing_one_elen_byte_dropped", run: func(s *session) {
			b := alive2{name: "halfelen", hi: 6}.body()
			s.request("x", frame(b[:len(b)-1]))
			s.lookup("halfelen")
		}},
		{name: "alive2_duplicate_v6", run: func(s *session) {
			first := s.register("first", alive2{name: "dup6", hi: 6, port: 1111})
			second := s.register("second", alive2{name: "dup6", hi: 6, port: 2222})
			s.lookup("dup6")
			second.close()
			first.close()
		}},
		{name: "alive2_duplicate_v5", run: func(s *session) {
			first := s.register("first", alive2{name: "dup5", hi: 5, port: 1111})
			second := s.register("second", alive2{name: "dup5", hi: 5, port: 2222})
			s.lookup("dup5")
			second.close()
			first.close()
		}},
		{name: "alive2_names_are_case_sensitive", run: func(s *session) {
			a := s.register("upper", alive2{name: "Case", hi: 6, port: 1})
			b := s.register("lower", alive2{name: "case", hi: 6, port: 2})
			s.lookup("Case")
			s.lookup("case")
			s.lookup("CASE")
			a.close()
			b.close()
		}},
		{name: "creation_v6_bumps_on_reregistration", run: func(s *session) {
			for i := range 3 {
				c := s.register(fmt.Sprintf("reg%d", i+1), alive2{name: "bump6", hi: 6})
				c.close()
				s.waitUnregistered("bump6")
			}
		}},
		{name: "creation_v5_cycles_1_to_3", run: func(s *session) {
			for i := range 4 {
				c := s.register(fmt.Sprintf("reg%d", i+1), alive2{name: "bump5", hi: 5})
				c.close()
				s.waitUnregistered("bump5")
			}
		}},
		{name: "creation_view_follows_each_requests_highvsn", run: func(s *session) {
			for i, hi := range []int{6, 5, 6, 5, 7, 0} {
				c := s.register(fmt.Sprintf("reg%d_v%d", i+1, hi), alive2{name: "mixed", hi: hi, lo: min(hi, 5)})
				c.close()
				s.waitUnregistered("mixed")
			}
		}},
		{name: "registration_lives_as_long_as_connection", run: func(s *session) {
			c := s.register("reg", alive2{name: "life", hi: 6})
			s.lookup("life")
			c.close()
			s.waitUnregistered("life")
		}},
		{name: "registration_has_no_idle_timeout", run: func(s *session) {
			c := s.register("reg", alive2{name: "noidle", hi: 6})
			c.record(c.read(beyondTimeout, beyondTimeout))
			s.lookup("noidle")
			c.close()
		}},
		{name: "registration_any_byte_unregisters_and_closes", run: func(s *session) {
			c := s.register("reg", alive2{name: "anybyte", hi: 6})
			c.send([]byte{0})
			c.reply()
			s.waitUnregistered("anybyte")
		}},
		{name: "registration_second_alive2_on_same_connection", run: func(s *session) {
			c := s.register("reg", alive2{name: "twice", hi: 6})
			c.send(alive2{name: "twice2", hi: 6}.frame())
			c.reply()
			s.waitUnregistered("twice")
			s.lookup("twice2")
		}},
		{name: "registration_second_alive2_ends_with_fin", run: func(s *session) {
			// The request is read before the close, so the peer reads
			// EOF (a FIN), not a reset.
			c := s.register("reg", alive2{name: "twicefin", hi: 6})
			c.send(alive2{name: "twicefin2", hi: 6}.frame())
			if c.nc != nil {
				c.nc.SetReadDeadline(time.Now().Add(replyTimeout))
				_, err := io.ReadAll(c.nc)
				if err == nil {
					err = io.EOF
				}
				s.printf("reg: close read as %s", errClass(err))
			}
			s.waitUnregistered("twicefin")
		}},
		{name: "registration_half_close_unregisters", run: func(s *session) {
			c := s.register("reg", alive2{name: "halfclose", hi: 6})
			c.closeWrite()
			c.reply()
			s.waitUnregistered("halfclose")
		}},
		{name: "failed_alive2_keeps_connection_open", run: func(s *session) {
			first := s.register("first", alive2{name: "keepdup", hi: 6})
			second := s.register("second", alive2{name: "keepdup", hi: 6, port: 9})
			second.record(second.read(beyondTimeout, beyondTimeout))
			second.send([]byte("?"))
			second.reply()
			s.lookup("keepdup") // the original holder is untouched
			first.close()
		}},
		{name: "failed_alive2_invalid_name_keeps_connection_open", run: func(s *session) {
			c := s.register("reg", alive2{name: "bad\xff", hi: 5})
			c.record(c.read(beyondTimeout, beyondTimeout))
			c.close()
		}},
		{name: "failed_alive2_then_valid_alive2_on_same_connection", run: func(s *session) {
			c := s.register("reg", alive2{name: "bad\xc0\x80", hi: 6})
			c.send(alive2{name: "afterfail", hi: 6}.frame())
			c.reply()
			s.lookup("afterfail")
		}},
	}
	for i, u := range utf8Classes {
		cases = append(cases, conformanceCase{
			name: "alive2_utf8_" + u.name,
			run: func(s *session) {
				name := fmt.Sprintf("u%d-", i) + u.bytes
				c := s.register("reg", alive2{name: name, hi: 6})
				if u.valid {
					s.lookup(name)
				}
				c.close()
			},
		})
	}
	return cases
}

// utf8Classes are the byte sequences verify_utf8 (epmd_srv.c:140-196)
// accepts or rejects.
var utf8Classes = []struct {
	name  string
	bytes string
	valid bool
}{
	{"valid_2byte_min", "\xc2\x80", true},
	{"valid_3byte_min", "\xe0\xa0\x80", true},
	{"valid_before_surrogates", "\xed\x9f\xbf", true},
	{"valid_after_surrogates", "\xee\x80\x80", true},
	{"valid_4byte_min", "\xf0\x90\x80\x80", true},
	{"valid_max_10ffff", "\xf4\x8f\xbf\xbf", true},
	{"stray_continuation", "\x80", false},
	{"stray_continuation_bf", "a\xbfb", false},
	{"overlong_2byte_c0", "\xc0\x80", false},
	{"overlong_2byte_c1", "\xc1\xbf", false},
	{"overlong_3byte", "\xe0\x80\x80", false},
	{"overlong_3byte_9f", "\xe0\x9f\xbf", false},
	{"surrogate_low", "\xed\xa0\x80", false},
	{"surrogate_high", "\xed\xbf\xbf", false},
	{"overlong_4byte", "\xf0\x80\x80\x80", false},
	{"overlong_4byte_8f", "\xf0\x8f\xbf\xbf", false},
	{"above_10ffff", "\xf4\x90\x80\x80", false},
	{"lead_f5", "\xf5\x80\x80\x80", false},
	{"lead_f7", "\xf7\xbf\xbf\xbf", false},
	{"lead_f8_5byte", "\xf8\x88\x80\x80\x80", false},
	{"lead_fe", "\xfe", false},
	{"lead_ff", "\xff", false},
	{"truncated_2byte", "a\xc3", false},
	{"truncated_3byte", "\xe2\x82", false},
	{"truncated_4byte", "\xf0\x9f\x98", false},
	{"bad_continuation_2byte", "\xc3\x28", false},
	{"bad_continuation_3byte", "\xe2\x28\xa1", false},
	{"bad_continuation_4byte", "\xf0\x9f\x28\x80", false},
}

// ---------------------------------------------------------------------------
// Fresh cases: creation memory

func creationFreshCases() []conformanceCase {
	debug := serverSpec{args: []string{"-d", "-packet_timeout", "1", "-address", "127.0.0.1"}}
	return []conformanceCase{
		{name: "creation_memory_5_with_debug", server: &debug, run: func(s *session) {
			// a1 is remembered with a counter 10 above its first
			// registration's (far from now+1); a2..a6 fill the memory of 5
			// (count 6 > 5); a new name then takes a1's slot and its counter
			// without a bump, and a1 is new again.
			for i := range 10 {
				s.register(fmt.Sprintf("a1 #%d", i+1), alive2{name: "a1", hi: 6}).close()
				s.waitUnregistered("a1")
			}
			for i := 2; i <= 6; i++ {
				n := fmt.Sprintf("a%d", i)
				s.register(n, alive2{name: n, hi: 6}).close()
				s.waitUnregistered(n)
			}
			b := s.register("b takes a1's slot", alive2{name: "b", hi: 6})
			a1 := s.register("a1 is new again", alive2{name: "a1", hi: 6})
			b.close()
			s.waitUnregistered("b")
			a1.close()
			s.waitUnregistered("a1")
			s.request("dump", dumpReq)
		}},
		{name: "creation_memory_1000", run: func(s *session) {
			// 1000 remembered names fill the memory exactly: a new name
			// still gets a fresh counter. One more, and the next new name
			// takes the oldest slot.
			const n = 1000
			conns := registerMany(s, "m", n)
			for _, c := range conns {
				c.close()
			}
			s.waitNamesCount(0)
			waitNextSecond() // a fresh counter now differs from the old ones
			s.register("new1", alive2{name: "new1", hi: 6}).close()
			s.waitUnregistered("new1")
			// new2's counter is inherited from a name registered before
			// the clock moved on, so it is older than now+1.
			c := s.dial("new2")
			t0 := clockBefore()
			c.send(alive2{name: "new2", hi: 6}.frame())
			r := c.read(replyTimeout, openWindow)
			if d := r.data(); len(d) == 6 && d[0] == 'v' && d[1] == 0 {
				s.printf("new2: creation older than now+1: %v", int64(binary.BigEndian.Uint32(d[2:])) < t0+1)
			} else {
				c.record(r)
			}
			c.close()
		}},
	}
}

// waitNextSecond returns once the Unix time has moved to the next second,
// also as the server's coarse time() sees it.
func waitNextSecond() {
	start := time.Now().Unix()
	for clockBefore() <= start {
		pause(pollInterval)
	}
}
