package epmd

import "net"

// WithoutKeepAlive returns l with TCP keep-alive off on the connections it
// accepts, as Listen's listeners have it (the C epmd sets none). It is for
// listeners made without a net.ListenConfig, such as net.FileListener of a
// socket systemd passed, whose accepts turn on Go's default keep-alive;
// here it is turned off again after each accept. Other listeners than a
// *net.TCPListener are returned as they are.
func WithoutKeepAlive(l net.Listener) net.Listener {
	tl, ok := l.(*net.TCPListener)
	if !ok {
		return l
	}
	return noKeepAliveListener{tl}
}

type noKeepAliveListener struct{ *net.TCPListener }

func (l noKeepAliveListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	if err := c.SetKeepAlive(false); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}
