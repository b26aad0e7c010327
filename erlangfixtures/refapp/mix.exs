# The reference application: what a team's release looks like to chaos-epmd.
# No Hex dependencies, so it builds offline with Debian's elixir:
#
#     MIX_ENV=prod mix release
#
# The release reads the usual variables at start: RELEASE_NODE (refapp@HOST),
# RELEASE_COOKIE, RELEASE_DISTRIBUTION (sname or name), and REFAPP_PEERS.
defmodule Refapp.MixProject do
  use Mix.Project

  def project do
    [
      app: :refapp,
      version: "0.1.0",
      elixir: "~> 1.14",
      deps: [],
      releases: [refapp: [include_executables_for: [:unix]]]
    ]
  end

  def application do
    [mod: {Refapp.Application, []}, extra_applications: [:logger]]
  end
end
