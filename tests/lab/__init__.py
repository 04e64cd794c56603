"""A school LAN in network namespaces, attacked with real tools while sentinel listens."""
