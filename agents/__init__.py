"""How items stream: the Faust app, its topics and tables, one thin agent per stage, and the CLI."""
