package epmd

// Close closes the connection from outside its handler: a registration
// connection's node is then unregistered as when the peer closes it. The
// faults package uses it to drop registrations (crash).
func (c *Conn) Close() error { return c.close() }
