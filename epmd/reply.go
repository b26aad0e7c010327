package epmd

// ReplyHeadLen is how many leading bytes of a reply ReplySucceeded reads:
// the longest fixed reply, STOP's "STOPPED" or "NOEXIST".
const ReplyHeadLen = 7

// ReplySucceeded reports whether a reply to a request of kind k that
// starts with head (its first ReplyHeadLen bytes, or all of a shorter
// reply) says the request succeeded. ALIVE2 and PORT_PLEASE2 succeed with
// result 0 in a reply of their own code, KILL with "OK", STOP unless it is
// "NOEXIST". The replies to NAMES and DUMP, and a connection's accept,
// carry no result: they always succeed.
func ReplySucceeded(k Kind, head []byte) bool {
	switch k {
	case KindAlive2:
		return len(head) >= 2 && (head[0] == CodeAlive2XResp || head[0] == CodeAlive2Resp) && head[1] == 0
	case KindPortPlease2:
		return len(head) >= 2 && head[0] == CodePort2Resp && head[1] == 0
	case KindKill:
		return string(head) == "OK"
	case KindStop:
		return string(head) != "NOEXIST"
	}
	return true
}
