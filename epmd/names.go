package epmd

// namesReplier is a node table that keeps its NAMES reply rendered
// (MemRegistry does).
type namesReplier interface {
	NamesReply(port uint32) []byte
}

// namesCached answers NAMES with the registry's rendered reply, sent as
// is, when nothing can tell the difference from the C epmd's one write
// per line: no middleware wraps the connection's writer (a wrapper may
// delay or cut each line), the registry keeps a rendered reply, and the
// bytes are not being logged. It reports whether it answered.
func (h core) namesCached(w ResponseWriter, r *Request) bool {
	cw, ok := w.(*connWriter)
	if !ok || h.s.logLevels[2] {
		return false
	}
	nr, ok := r.Registry.(namesReplier)
	if !ok {
		return false
	}
	if cw.writeShared(nr.NamesReply(h.reportedPort(r))) == nil {
		h.s.logSent(KindNames, "", "")
	}
	return true
}

// writeShared sends p, which is shared and never modified, without
// copying it into the writer's buffer: after whatever is queued, in one
// system call when nothing is.
func (w *connWriter) writeShared(p []byte) error {
	if err := w.refused(); err != nil {
		return err
	}
	if len(w.buf) > 0 {
		if _, err := w.Write(p); err != nil {
			return err
		}
		return w.Flush()
	}
	return w.send(p)
}
