package erlangfixtures

// Elixir is Debian's elixir package on each release: elixir, iex and mix over
// the release's OTP. Run a node in its image with WithApplication(Elixir) and
// start Elixir nodes in the container (elixir --sname a -e ...), or build on
// Elixir.On(r).Ref() for a mix release.
var Elixir = defineApplication(&Application{
	Name:     "elixir",
	Packages: []string{"elixir"},
	Versions: map[Release]string{OTP25: "1.14.0", OTP27: "1.18.3", OTP29: "1.20.4"},
	// Elixir expects a UTF-8 locale (it warns when the VM's file name
	// encoding is latin1): with LANG=C, :file.native_name_encoding() is
	// :latin1 on every release; with these, :utf8. C.UTF-8 is in libc.
	Env:     []string{"LANG=C.UTF-8", "LC_ALL=C.UTF-8"},
	Command: []string{"iex"},
})
