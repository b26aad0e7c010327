case code:load_abs("AGENT") of
	{module, _} -> ok;
	_ -> {ok, M, B} = compile:file("AGENT.erl", [binary, return_errors]),
	     {module, M} = code:load_binary(M, "AGENT.erl", B),
	     ok = file:write_file("AGENT.beam", B)
end,
chaos_agent:start().
