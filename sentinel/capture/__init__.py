"""LAN capture: packets from a ring or a pcap file to accounting and detector input."""
