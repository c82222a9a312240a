"""How many pods of which shape a target rate needs: the plan, its day simulated, its reports."""
