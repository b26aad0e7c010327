package erlangfixtures

// RabbitMQ is Debian's rabbitmq-server package on each release. Its postinst
// starts the service; policy-rc.d (every application install has it) denies
// that in the chroot, so the image holds a server never started. Start it in
// the container as root with Command: Debian's wrapper runs the server as the
// rabbitmq user in the foreground, logging to stdout; rabbitmqctl and
// rabbitmq-diagnostics do the same switch. The node is rabbit@<hostname>.
//
// The cookie the postinst generated is replaced by [DefaultCookie], so the
// fixture's nodes (and RabbitMQ nodes of other releases) can reach it with
// their default cookie; overwrite Cookie (mode 0400, owner rabbitmq) before
// the server starts to test another one.
var RabbitMQ = defineApplication(&Application{
	Name:     "rabbitmq",
	Packages: []string{"rabbitmq-server"},
	Versions: map[Release]string{OTP25: "3.10.8", OTP27: "4.0.5", OTP29: "4.3.6"},
	Command:  []string{"rabbitmq-server"},
	Cookie:   "/var/lib/rabbitmq/.erlang.cookie",
	// The node's distribution port and the CLI's range
	// (RABBITMQ_CTL_DIST_PORT_MIN..MAX), which the default ephemeral range
	// (32768-60999) covers.
	ReservedPorts: "25672,35672-35682",
	AfterInstall: `c=/var/lib/rabbitmq/.erlang.cookie
printf '%s' '` + DefaultCookie + `' > "$c"
chown rabbitmq:rabbitmq "$c"
chmod 400 "$c"
`,
})
