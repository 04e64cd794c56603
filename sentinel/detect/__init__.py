"""Detection: one detector per module, run by the engine on decoded packets."""
