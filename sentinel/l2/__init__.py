"""Layer 2 of the school's switches: topology (LLDP, CDP), device counts (FDB), PoE."""
