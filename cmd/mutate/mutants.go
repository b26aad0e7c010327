package main

// edit replaces Old, which must occur exactly once in File, by New.
type edit struct {
	File     string // module-relative
	Old, New string
}

// scenarioMutant is a deliberately broken chaos-epmd: a few source edits,
// each anchored on a line that says what it does, so that a restructuring
// elsewhere in the file leaves the mutant applicable and a change of the
// line itself stops the run instead of silently testing nothing.
type scenarioMutant struct {
	Name  string
	What  string
	Edits []edit
}

// scenarioMutants are the broken builds the scenario suite must catch.
var scenarioMutants = []scenarioMutant{
	{
		Name: "port2-wrong-port",
		What: "PORT2_RESP carries the registered port plus one",
		Edits: []edit{{
			File: "epmd/codec.go",
			Old:  "b = append(b, CodePort2Resp, m.Result)\n",
			New:  "b = append(b, CodePort2Resp, m.Result)\n\twrong := *m\n\twrong.PortNo++\n\tm = &wrong\n",
		}},
	},
	{
		Name: "never-unregister",
		What: "a registration outlives its connection: Unregister reports success and removes nothing",
		Edits: []edit{{
			File: "epmd/registry.go",
			Old:  "func (r *MemRegistry) Unregister(n *Node) bool {\n",
			New:  "func (r *MemRegistry) Unregister(n *Node) bool { return true }\n\nfunc (r *MemRegistry) unregisterMutated(n *Node) bool {\n",
		}},
	},
	{
		Name: "names-last-line",
		What: "NAMES leaves out its last line (the oldest registration), rendered by the handler or cached by the registry",
		Edits: []edit{{
			File: "epmd/handler.go",
			Old:  "for _, n := range nodes {\n",
			New:  "for _, n := range nodes[:max(len(nodes)-1, 0)] {\n",
		}, {
			File: "epmd/registry.go",
			Old:  "b = AppendNamesLine(b, e.node.Name, e.node.PortNo)\n",
			New:  "if e.next == nil {\n\t\t\tbreak\n\t\t}\n\t\tb = AppendNamesLine(b, e.node.Name, e.node.PortNo)\n",
		}},
	},
	{
		Name: "creation-forgotten",
		What: "a name registered again is treated as new: its remembered creation is not kept and bumped, the clock gives it one",
		Edits: []edit{{
			File: "epmd/registry.go",
			Old:  "case u != nil:\n",
			New:  "case u != nil && false:\n",
		}},
	},
	{
		Name: "alive2-nonlocal",
		What: "ALIVE2_REQ is accepted from a non-local peer (the locality rule keeps DUMP, KILL and STOP only)",
		Edits: []edit{{
			File: "epmd/server.go",
			Old:  "case KindAlive2, KindDump, KindKill, KindStop:\n",
			New:  "case KindDump, KindKill, KindStop:\n",
		}},
	},
}
