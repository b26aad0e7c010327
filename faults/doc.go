// Package faults is chaos-epmd's fault injector: middleware on the epmd
// seam (see package epmd) built from spec strings.
//
// A spec names a kind of fault, its argument and, optionally, selectors
// that narrow it to some requests:
//
//	SPEC = KIND [ "=" ARG ] *( "," KEY "=" VALUE )
//
//	delay_write=5                     every reply write waits 5 s
//	drop,req=port_please,node=a*      PORT_PLEASE2 for a* nodes: closed unanswered
//	partial_write=3,then=reset,p=0.5  half the replies cut after 3 bytes, then RST
//	name_in_use,node=a*               ALIVE2 of a* names refused as duplicates
//
// Durations are epmd-style: a bare integer is seconds (delay_write=5 is
// -delay_write 5); Go durations (200ms, 1.5s) are accepted too. Parse
// reads a spec, Fault.String writes the canonical one, and
// Parse(f.String()) returns f again. Each kind is one file: its Action
// type and its entry in the table of kinds (kinds.go), which Catalogue
// lists for the command line's help; README.md describes each one with
// what a real OTP node sees.
//
// An Injector holds the active faults and is installed as one middleware
// of an epmd.Server. Its fault list is an immutable snapshot swapped
// atomically, so Add, Remove and Clear never block requests and never touch
// registrations. Faults act in the order they were added, the first
// outermost. Every random choice comes from the injector's one seeded
// source.
//
// Admin serves the injector's JSON HTTP control API (faults, registrations,
// an NDJSON event stream, Prometheus metrics) and Client is its Go client.
package faults
