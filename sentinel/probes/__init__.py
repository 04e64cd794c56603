"""Connection-quality probes: ICMP, DNS, TCP and HTTP(S), their schedules, and the verdict."""
