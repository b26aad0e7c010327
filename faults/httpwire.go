package faults

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxReplyHeader bounds a reply's status line and header together, and
// separately a chunked body's trailer, in bytes.
const maxReplyHeader = 64 << 10

// errNotStatusLine is the error of a reply that does not start with an
// HTTP/1.x status line.
var errNotStatusLine = errors.New("not an HTTP/1.x status line")

// errLongLine is readReplyLine's error for a line over its budget.
var errLongLine = errors.New("line too long")

// reply is a reply as readResponse reads it.
type reply struct {
	status int
	// body is the reply's body, framed: it ends with io.EOF after the
	// last byte.
	body io.Reader
	// keep is whether the connection may carry another request once body
	// has been read to its end: an HTTP/1.1 reply without "Connection:
	// close", whose body's end is known.
	keep bool
}

// readResponse reads a reply to a request of that method from br: its
// status line and header, skipping interim (1xx) replies, and frames its
// body by Transfer-Encoding: chunked, Content-Length, or else the end of
// the connection. HEAD replies and 204 and 304 ones have no body.
func readResponse(br *bufio.Reader, method string) (*reply, error) {
	// Garbage is told apart from a short read before waiting for a line.
	const version = "HTTP/1."
	if p, err := br.Peek(len(version)); !strings.HasPrefix(version, string(p)) {
		return nil, fmt.Errorf("%w: starts %q", errNotStatusLine, p)
	} else if err != nil {
		return nil, unexpectedEOF(err, len(p))
	}
	budget := maxReplyHeader
	for {
		line, err := readReplyLine(br, &budget)
		if err != nil {
			return nil, headerErr(err)
		}
		minor, status, err := parseStatusLine(line)
		if err != nil {
			return nil, err
		}
		h, err := readHeader(br, &budget)
		if err != nil {
			return nil, headerErr(err)
		}
		if status >= 100 && status < 200 {
			continue // an interim reply; the final one follows
		}
		return frame(br, method, minor, status, h)
	}
}

// headerErr says which bound a line over its budget broke.
func headerErr(err error) error {
	if err == errLongLine {
		return fmt.Errorf("reply header over %d bytes", maxReplyHeader)
	}
	return err
}

// parseStatusLine parses "HTTP/1.x NNN reason" (the reason may be empty,
// with or without its space).
func parseStatusLine(line string) (minor, status int, err error) {
	bad := func() (int, int, error) {
		if len(line) > 64 {
			line = line[:64] + "..."
		}
		return 0, 0, fmt.Errorf("%w: %q", errNotStatusLine, line)
	}
	rest, ok := strings.CutPrefix(line, "HTTP/1.")
	if !ok || len(rest) < 5 || rest[0] < '0' || rest[0] > '9' || rest[1] != ' ' {
		return bad()
	}
	code := rest[2:5]
	if len(rest) > 5 && rest[5] != ' ' {
		return bad()
	}
	for i := range code {
		if code[i] < '0' || code[i] > '9' {
			return bad()
		}
	}
	status, _ = strconv.Atoi(code)
	if status < 100 {
		return bad()
	}
	return int(rest[0] - '0'), status, nil
}

// header is what the client needs of a reply's header.
type header struct {
	contentLength int64 // -1 when absent
	chunked       bool
	close         bool
}

// readHeader reads header lines up to the empty line that ends them.
func readHeader(br *bufio.Reader, budget *int) (header, error) {
	h := header{contentLength: -1}
	for {
		line, err := readReplyLine(br, budget)
		if err != nil {
			return h, err
		}
		if line == "" {
			return h, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return h, fmt.Errorf("malformed header line %q", line)
		}
		value = strings.Trim(value, " \t")
		switch strings.ToLower(name) {
		case "content-length":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 || value[0] == '+' {
				return h, fmt.Errorf("bad Content-Length %q", value)
			}
			if h.contentLength >= 0 && h.contentLength != n {
				return h, fmt.Errorf("two Content-Lengths, %d and %d", h.contentLength, n)
			}
			h.contentLength = n
		case "transfer-encoding":
			if !strings.EqualFold(value, "chunked") {
				return h, fmt.Errorf("unsupported Transfer-Encoding %q", value)
			}
			h.chunked = true
		case "connection":
			for _, opt := range strings.Split(value, ",") {
				if strings.EqualFold(strings.TrimSpace(opt), "close") {
					h.close = true
				}
			}
		}
	}
}

// frame returns the reply with its body framed.
func frame(br *bufio.Reader, method string, minor, status int, h header) (*reply, error) {
	resp := &reply{status: status, keep: minor >= 1 && !h.close}
	switch {
	case method == "HEAD" || status == 204 || status == 304:
		resp.body = strings.NewReader("")
	case h.chunked:
		resp.body = &chunkedReader{br: br}
	case h.contentLength >= 0:
		resp.body = &lengthReader{r: br, left: h.contentLength}
	default:
		resp.body = br // to the end of the connection
		resp.keep = false
	}
	return resp, nil
}

// readReplyLine is readLine for a reply: errLongLine past the budget, and
// the end of input before a line ends, even an empty one, is
// io.ErrUnexpectedEOF (a reply was due).
func readReplyLine(br *bufio.Reader, budget *int) (string, error) {
	line, err := readLine(br, budget, errLongLine)
	return string(line), unexpectedEOF(err, 1)
}

// unexpectedEOF turns io.EOF into io.ErrUnexpectedEOF when read bytes
// were part of something unfinished.
func unexpectedEOF(err error, read int) error {
	if err == io.EOF && read > 0 {
		return io.ErrUnexpectedEOF
	}
	return err
}

// lengthReader reads a body of known length.
type lengthReader struct {
	r    io.Reader
	left int64
}

func (l *lengthReader) Read(p []byte) (int, error) {
	if l.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if err == io.EOF && l.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// chunkedReader decodes a chunked body: chunks of "SIZE[;ext]\r\n",
// SIZE bytes and "\r\n", up to a chunk of size 0, then a trailer, which it
// skips, and an empty line.
type chunkedReader struct {
	br   *bufio.Reader
	left int64 // of the current chunk
	// inChunks is whether a chunk was read, whose line end comes next.
	inChunks bool
	err      error // sticky: io.EOF after the trailer
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.left == 0 {
		if c.err = c.next(); c.err != nil {
			return 0, c.err
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	c.err = err
	return n, err
}

// next reads the line end of the chunk read, if any, then the next
// chunk's size line, and after the last chunk the trailer, returning
// io.EOF then. A chunk's line end is read only when more is wanted, so
// that a chunk is passed on as soon as its data arrived.
func (c *chunkedReader) next() error {
	if c.inChunks {
		if err := c.chunkEnd(); err != nil {
			return err
		}
	}
	c.inChunks = true
	budget := 4 << 10
	line, err := readReplyLine(c.br, &budget)
	if err == errLongLine {
		return errors.New("chunk size line over 4096 bytes")
	} else if err != nil {
		return err
	}
	size, _, _ := strings.Cut(line, ";")
	size = strings.Trim(size, " \t")
	n, err := strconv.ParseInt(size, 16, 64)
	if err != nil || n < 0 || size[0] == '+' || size[0] == '-' {
		return fmt.Errorf("bad chunk size line %q", line)
	}
	if n > 0 {
		c.left = n
		return nil
	}
	budget = maxReplyHeader
	for {
		line, err := readReplyLine(c.br, &budget)
		if err == errLongLine {
			return fmt.Errorf("chunked trailer over %d bytes", maxReplyHeader)
		} else if err != nil {
			return err
		}
		if line == "" {
			return io.EOF
		}
	}
}

// chunkEnd reads the line end after a chunk's data.
func (c *chunkedReader) chunkEnd() error {
	budget := 2
	line, err := readReplyLine(c.br, &budget)
	if err == errLongLine || err == nil && line != "" {
		return errors.New("chunk not followed by a line end")
	}
	return err
}
