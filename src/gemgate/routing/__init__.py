"""Which deployment serves a request: the alias table from model_list and the picks over it."""
