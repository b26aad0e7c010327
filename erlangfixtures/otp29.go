package erlangfixtures

// OTP29 is Erlang/OTP 29 from Debian "forky", the testing suite: its packages
// still move, so the images test checks only the OTP major version. A
// debootstrap older than forky has no script for it; sid's serves.
const OTP29 Release = "forky"

var _ = defineRelease(OTP29, ReleaseInfo{OTP: 29, ErlangBase: "1:29.1.1", Testing: true, Script: "sid"})
