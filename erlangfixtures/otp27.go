package erlangfixtures

// OTP27 is Erlang/OTP 27 from Debian 13 "trixie".
const OTP27 Release = "trixie"

var _ = defineRelease(OTP27, ReleaseInfo{OTP: 27, ErlangBase: "1:27.3.4.1"})
