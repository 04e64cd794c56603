"""SNMP polling of the school's switches (the only package that talks SNMP)."""
