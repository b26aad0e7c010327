%% chaos_agent: the fixtures' control channel into an Erlang node.
%%
%% It listens on its own TCP port (environment CHAOS_AGENT_PORT, default 7369) and
%% evaluates Erlang expressions sent to it, independently of epmd and of
%% distribution, so a test can start distribution, ping, list nodes and read the
%% exact error terms while epmd is broken.
%%
%% Framing is {packet, 4} in both directions. A connection may carry any number of
%% requests, answered in order.
%%
%%   request = Mode:8 Expr        Mode: $p  reply with the value printed as a term
%%                                      $s  the value is chardata, reply with it as is
%%   reply   = $o Text            the expression returned; Text as asked by Mode
%%           | $e Class "\n" Text the expression raised (Class error|exit|throw),
%%                                or did not scan or parse (Class parse);
%%                                Text is the reason printed as a term
%%
%% Each expression runs in a fresh process with no bindings; when the client closes
%% the connection before the answer, that process is killed.
%%
%% The agent is loaded from source at boot (compile:file/2 with [binary]), so any
%% image with erl and the compiler application can run it.
-module(chaos_agent).
-export([start/0, start/1]).

-define(DEFAULT_PORT, 7369).
%% Field width of ~p is the line length: print every term on one line.
-define(ONE_LINE, "~1000000tp").

start() ->
    Port = case os:getenv("CHAOS_AGENT_PORT") of
               false -> ?DEFAULT_PORT;
               S -> list_to_integer(S)
           end,
    start(Port).

start(Port) ->
    Self = self(),
    Pid = spawn(fun() -> listen(Self, Port) end),
    receive
        {Pid, listening} ->
            io:format("chaos_agent: listening on ~b~n", [Port]),
            ok;
        {Pid, {error, Reason}} ->
            io:format("chaos_agent: listen on ~b: ~p~n", [Port, Reason]),
            erlang:halt(3)
    end.

listen(Parent, Port) ->
    %% The agent must outlive anything evaluated through it.
    process_flag(trap_exit, true),
    case gen_tcp:listen(Port, [binary, {packet, 4}, {active, false},
                               {reuseaddr, true}, {nodelay, true}]) of
        {ok, L} ->
            register(chaos_agent, self()),
            Parent ! {self(), listening},
            accept(L);
        {error, _} = E ->
            Parent ! {self(), E}
    end.

accept(L) ->
    case gen_tcp:accept(L) of
        {ok, S} ->
            Pid = spawn(fun() -> receive go -> serve(S) end end),
            ok = gen_tcp:controlling_process(S, Pid),
            Pid ! go,
            accept(L);
        {error, Reason} ->
            io:format("chaos_agent: accept: ~p~n", [Reason]),
            erlang:halt(4)
    end.

serve(S) ->
    case gen_tcp:recv(S, 0) of
        {ok, <<Mode, Expr/binary>>} when Mode =:= $p; Mode =:= $s ->
            case run(S, Mode, Expr) of
                {reply, Reply} ->
                    case gen_tcp:send(S, Reply) of
                        ok -> serve(S);
                        {error, _} -> gen_tcp:close(S)
                    end;
                closed ->
                    gen_tcp:close(S)
            end;
        {ok, _} ->
            _ = gen_tcp:send(S, [$e, "parse\n", "bad_request"]),
            gen_tcp:close(S);
        {error, _} ->
            gen_tcp:close(S)
    end.

run(S, Mode, Expr) ->
    {Pid, Ref} = spawn_monitor(fun() -> exit({chaos_agent_result, eval(Mode, Expr)}) end),
    ok = inet:setopts(S, [{active, once}]),
    receive
        {'DOWN', Ref, process, Pid, {chaos_agent_result, Reply}} ->
            ok = inet:setopts(S, [{active, false}]),
            flush_socket_messages(S),
            {reply, Reply};
        {'DOWN', Ref, process, Pid, Reason} ->
            %% Killed from outside (e.g. exit(Pid, kill) in the expression itself).
            ok = inet:setopts(S, [{active, false}]),
            flush_socket_messages(S),
            {reply, [$e, "exit\n", print(Reason)]};
        {tcp_closed, S} ->
            exit(Pid, kill),
            closed;
        {tcp_error, S, _} ->
            exit(Pid, kill),
            closed;
        {tcp, S, _} ->
            %% A pipelined request arrived early; the protocol forbids it.
            exit(Pid, kill),
            closed
    end.

flush_socket_messages(S) ->
    receive {tcp, S, _} -> ok; {tcp_closed, S} -> ok; {tcp_error, S, _} -> ok
    after 0 -> ok
    end.

eval(Mode, Expr) ->
    case parse(Expr) of
        {ok, Exprs} ->
            try erl_eval:exprs(Exprs, erl_eval:new_bindings()) of
                {value, Value, _} -> [$o, format(Mode, Value)]
            catch
                Class:Reason -> [$e, atom_to_list(Class), "\n", print(Reason)]
            end;
        {error, Reason} ->
            [$e, "parse\n", print(Reason)]
    end.

parse(Expr) ->
    case erl_scan:string(unicode:characters_to_list(Expr)) of
        {ok, Tokens, _} ->
            case erl_parse:parse_exprs(Tokens) of
                {ok, Exprs} -> {ok, Exprs};
                {error, {_Loc, Mod, Msg}} -> {error, lists:flatten(Mod:format_error(Msg))}
            end;
        {error, {_Loc, Mod, Msg}, _} ->
            {error, lists:flatten(Mod:format_error(Msg))}
    end.

format($p, Value) -> print(Value);
format($s, Value) ->
    try unicode:characters_to_binary(Value) of
        B when is_binary(B) -> B;
        _ -> print(Value)
    catch
        _:_ -> print(Value)
    end.

print(Term) -> unicode:characters_to_binary(io_lib:format(?ONE_LINE, [Term])).
