"""``make faults``: scenarios of outages and network faults against a whole deployment,
and the fault-injecting TCP proxy they put between each role and each server."""
