package faults

import (
	"context"
	"sync"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// result is a value of the requests metric's result label.
type result int

const (
	resultOK result = iota
	resultError
	resultNotFound
	resultRefused
	resultNoReply
)

// resultNames are the labels of the results, by value.
var resultNames = [...]string{"ok", "error", "not_found", "refused", "no_reply"}

// outerWriter is the writer every fault's writer ends in: it holds writes
// while the daemon is stalled and notes what reached the client for the
// metrics.
type outerWriter struct {
	epmd.ResponseWriter
	inj   *Injector
	ctx   context.Context
	head  [epmd.ReplyHeadLen]byte
	total int
}

// outerWriterPool recycles the outerWriters of finished requests.
var outerWriterPool = sync.Pool{New: func() any { return new(outerWriter) }}

func (w *outerWriter) Write(p []byte) (int, error) {
	if err := w.inj.gate.wait(w.ctx); err != nil {
		return 0, err
	}
	n, err := w.ResponseWriter.Write(p)
	if w.total < len(w.head) {
		copy(w.head[w.total:], p[:n])
	}
	w.total += n
	return n, err
}

func (w *outerWriter) Flush() error {
	if err := w.inj.gate.wait(w.ctx); err != nil {
		return err
	}
	return w.ResponseWriter.Flush()
}

// result classifies the reply for the requests metric: no_reply when
// nothing was written (but ok for an accept), else what the codec reads
// in the reply: ok, or for a failure the request type's own label
// (failureResult).
func (w *outerWriter) result(k epmd.Kind) result {
	if w.total == 0 {
		if k == epmd.KindAccept {
			return resultOK
		}
		return resultNoReply
	}
	if epmd.ReplySucceeded(k, w.head[:min(w.total, len(w.head))]) {
		return resultOK
	}
	return failureResult[k]
}

// failureResult is the label of a failed request, by request type: the
// ones epmd.ReplySucceeded can report as failed.
var failureResult = [...]result{
	epmd.KindAlive2:      resultError,
	epmd.KindPortPlease2: resultNotFound,
	epmd.KindKill:        resultRefused,
	epmd.KindStop:        resultNotFound,
}
