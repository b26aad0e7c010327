defmodule Refapp.Application do
  # One supervised process: the cluster keeper. A real application puts its
  # own children next to it.
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    children = [{Refapp.Cluster, Refapp.Cluster.config_from_env()}]
    Supervisor.start_link(children, strategy: :one_for_one, name: Refapp.Supervisor)
  end
end
