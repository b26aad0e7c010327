package erlangfixtures

// OTP25 is Erlang/OTP 25 from Debian 12 "bookworm": the default release.
const OTP25 Release = "bookworm"

var _ = defineRelease(OTP25, ReleaseInfo{OTP: 25, ErlangBase: "1:25.2.3"})
