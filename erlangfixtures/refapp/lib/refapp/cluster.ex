defmodule Refapp.Cluster do
  @moduledoc """
  Joins the peers named in REFAPP_PEERS and keeps them joined, the way
  libcluster's Epmd strategy with a polling interval does: try every peer
  that is not connected, then again every REFAPP_RETRY_MS (default 1000).

  Every attempt is a Node.connect/1, so it goes through epmd: the peer's
  host epmd is asked for its port (PORT_PLEASE2) before the connection.
  That is what chaos-epmd faults reach.

      REFAPP_PEERS="refapp@n1,refapp@n2,refapp@n3"

  A node lists itself too; it is skipped. Node.list/0 is the cluster as this
  node sees it:

      bin/refapp rpc 'IO.inspect(Node.list())'
  """
  use GenServer
  require Logger

  def start_link(config), do: GenServer.start_link(__MODULE__, config, name: __MODULE__)

  @doc "The peers and the retry interval from the environment."
  def config_from_env do
    peers =
      System.get_env("REFAPP_PEERS", "")
      |> String.split([",", " "], trim: true)
      |> Enum.map(&String.to_atom/1)

    %{peers: peers, retry_ms: String.to_integer(System.get_env("REFAPP_RETRY_MS", "1000"))}
  end

  @impl true
  def init(config) do
    # Learn about peers that go away, so they are tried again.
    :ok = :net_kernel.monitor_nodes(true)
    peers = Enum.reject(config.peers, &(&1 == node()))
    Logger.info("refapp: #{node()} up, peers #{inspect(peers)}")
    send(self(), :connect)
    {:ok, Map.merge(config, %{peers: peers, failing: MapSet.new()})}
  end

  @impl true
  def handle_info(:connect, state) do
    connected = Node.list()
    # Node.connect/1 returns true, false (epmd lookup or handshake failed)
    # or :ignored (this node has no distribution).
    failing =
      for peer <- state.peers, peer not in connected, reduce: state.failing do
        failing ->
          case Node.connect(peer) do
            true ->
              failing

            result ->
              # Log a peer's failure once, not every round.
              if peer not in failing,
                do: Logger.warning("refapp: connect #{peer}: #{inspect(result)}, retrying")

              MapSet.put(failing, peer)
          end
      end

    Process.send_after(self(), :connect, state.retry_ms)
    {:noreply, %{state | failing: failing}}
  end

  def handle_info({:nodeup, peer}, state) do
    Logger.info("refapp: nodeup #{peer}")
    {:noreply, %{state | failing: MapSet.delete(state.failing, peer)}}
  end

  def handle_info({:nodedown, peer}, state) do
    Logger.info("refapp: nodedown #{peer}")
    {:noreply, state}
  end
end
